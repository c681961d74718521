// bagel-coordinator as an object: opens the store, recovers the control plane, serves the
// bagel.v1 services plus grpc.health.v1 and server reflection, and ticks the control plane.
// Used by the bagel-coordinator binary and, in process, by tests and the benchmark.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "coordinator/auth/authenticator.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/rpc/services.h"
#include "coordinator/store/sqlite_store.h"
#include "service/common/clock.h"

namespace bagel::coord {

class CoordinatorServer {
 public:
  // Starts serving on config.listen (port 0: a free port, see port()). `clock` defaults to the
  // wall clock; `metrics` (not owned, must outlive the server) receives the control plane's
  // hooks (default: none). Errors: the store cannot be opened or migrated, the address cannot be
  // bound, TLS files cannot be read.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      const config::ServiceConfig& config, const service::Clock* clock = nullptr,
      ControlPlaneMetrics* metrics = nullptr);
  ~CoordinatorServer();

  int port() const { return port_; }
  ControlPlane* control_plane() { return control_plane_.get(); }

  // Graceful stop: health turns NOT_SERVING, then after config.drain_ms the streams close and the
  // server drains in-flight calls (at most 5 s). Idempotent.
  void Shutdown();

 private:
  CoordinatorServer() = default;

  config::ServiceConfig config_;
  service::SystemClock system_clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<ControlPlane> control_plane_;
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<ClusterServiceImpl> cluster_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread ticker_;
  std::atomic<bool> stop_ticker_{false};
  std::atomic<bool> stopped_{false};
  int port_ = 0;
};

}  // namespace bagel::coord
