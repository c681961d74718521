#include "tests/service/in_process_coordinator.h"

#include <filesystem>

#include "service/client/channel.h"

namespace bagel::testing {

namespace fs = std::filesystem;

InProcessCoordinator::InProcessCoordinator(const std::string& name,
                                           const std::function<void(config::ServiceConfig&)>& tweak)
    : dir_("bagel-inproc-" + name), root_(dir_.path().string()) {
  fs::create_directories(root_ + "/ckpt");
  fs::create_directories(root_ + "/data");
  config_.listen = "127.0.0.1:0";
  config_.database = root_ + "/coordinator.db";
  config_.checkpoint_root = root_ + "/ckpt";
  config_.data_roots = {root_ + "/data"};
  config_.auth.users = {{"alice", kAliceToken, config::Role::kUser},
                        {"bob", kBobToken, config::Role::kUser},
                        {"admin", kAdminToken, config::Role::kAdmin}};
  config_.auth.worker_token = kJoinToken;
  config_.heartbeat_interval_ms = 200;
  config_.lease_ttl_ms = 5000;
  config_.scheduler_tick_ms = 20;
  config_.drain_ms = 0;
  if (tweak) tweak(config_);
  auto s = coord::CoordinatorServer::Start(config_);
  if (!s.ok()) {
    std::fprintf(stderr, "cannot start coordinator: %s\n", s.status().ToString().c_str());
    std::abort();
  }
  server_ = std::move(*s);
}

InProcessCoordinator::~InProcessCoordinator() {
  server_.reset();  // before dir_ goes with the database
}

void InProcessCoordinator::Restart() {
  server_.reset();
  auto s = coord::CoordinatorServer::Start(config_);
  if (!s.ok()) std::abort();
  server_ = std::move(*s);
}

std::shared_ptr<grpc::Channel> InProcessCoordinator::Channel() {
  service::ClientOptions o;
  o.target = target();
  return *service::MakeChannel(o);
}

}  // namespace bagel::testing
