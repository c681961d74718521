// A coordinator inside the test process (CoordinatorServer on port 0, a temporary directory for
// its database and checkpoint root) with the users of local_cluster.h, and channels to it.
#pragma once

#include <memory>
#include <string>

#include "config/service_config.h"
#include "coordinator/rpc/coordinator_server.h"
#include "testing/temp_dir.h"
#include "tests/service/local_cluster.h"

namespace bagel::testing {

class InProcessCoordinator {
 public:
  // `tweak` may change the config before the server starts (TLS, limits).
  explicit InProcessCoordinator(const std::string& name,
                                const std::function<void(config::ServiceConfig&)>& tweak = nullptr);
  ~InProcessCoordinator();

  // Stops the server and starts a new one on the same database (a coordinator restart).
  void Restart();

  std::string target() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::shared_ptr<grpc::Channel> Channel();
  coord::ControlPlane* control_plane() { return server_->control_plane(); }
  const config::ServiceConfig& config() const { return config_; }
  const std::string& root() const { return root_; }

 private:
  bagel::testing::TempDir dir_;  // declared first: it outlives the server
  std::string root_;             // dir_.path() as a string
  config::ServiceConfig config_;
  std::unique_ptr<coord::CoordinatorServer> server_;
};

}  // namespace bagel::testing
