#include "coordinator/rpc/coordinator_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace bagel::coord {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const config::ServiceConfig& config, const service::Clock* clock,
    ControlPlaneMetrics* metrics) {
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer());
  s->config_ = config;
  if (!clock) clock = &s->system_clock_;
  std::error_code ec;
  std::filesystem::create_directories(config.checkpoint_root, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint_root ", config.checkpoint_root, ": ", ec.message()));
  }
  auto store = SqliteStore::Open(config.database);
  if (!store.ok()) return store.status();
  s->store_ = std::move(*store);
  s->auth_ = std::make_unique<Authenticator>(config.auth);
  s->control_plane_ = std::make_unique<ControlPlane>(ControlPlaneOptions::FromConfig(config),
                                                     s->store_.get(), clock, metrics);
  if (auto r = s->control_plane_->Recover(); !r.ok()) return r;

  ServiceContext ctx{s->control_plane_.get(), s->auth_.get(), &s->shutting_down_,
                     config.tls.enabled() && !config.tls.client_ca_file.empty()};
  s->job_service_ = std::make_unique<JobServiceImpl>(ctx);
  s->cluster_service_ = std::make_unique<ClusterServiceImpl>(ctx);
  s->worker_service_ = std::make_unique<WorkerServiceImpl>(ctx);

  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (config.tls.enabled()) {
    grpc::SslServerCredentialsOptions opts;
    auto cert = ReadFile(config.tls.cert_file);
    auto key = ReadFile(config.tls.key_file);
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    opts.pem_key_cert_pairs.push_back({*key, *cert});
    if (!config.tls.client_ca_file.empty()) {
      auto ca = ReadFile(config.tls.client_ca_file);
      if (!ca.ok()) return ca.status();
      opts.pem_root_certs = *ca;
      // Verified when presented; the worker API requires one (ServiceContext).
      opts.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(opts);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, creds, &s->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes));
  // Agents keep a stream open for hours: allow their keepalive pings.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.RegisterService(s->job_service_.get());
  builder.RegisterService(s->cluster_service_.get());
  builder.RegisterService(s->worker_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  auto* health = s->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  if (!config.port_file.empty()) {
    const std::string tmp = config.port_file + ".tmp";
    std::ofstream(tmp) << s->port_ << "\n";
    std::filesystem::rename(tmp, config.port_file, ec);
  }
  s->ticker_ = std::thread([srv = s.get(), tick = config.scheduler_tick_ms] {
    while (!srv->stop_ticker_.load()) {
      srv->control_plane_->Tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(tick));
    }
  });
  return s;
}

void CoordinatorServer::Shutdown() {
  if (stopped_.exchange(true)) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Load balancers and probes see NOT_SERVING before connections go away.
  std::this_thread::sleep_for(std::chrono::milliseconds(config_.drain_ms));
  shutting_down_ = true;
  stop_ticker_ = true;
  if (ticker_.joinable()) ticker_.join();
  control_plane_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
}

CoordinatorServer::~CoordinatorServer() {
  if (server_) Shutdown();
}

}  // namespace bagel::coord
