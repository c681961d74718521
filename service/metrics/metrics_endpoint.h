// The HTTP endpoint Prometheus scrapes: GET /metrics on HOST:PORT (prometheus-cpp's exposer, the
// text exposition format 0.0.4). Port 0 picks a free port (port()); the port can be written to a
// file for whoever started the process (tests, scripts).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
}

namespace bagel::metrics {

class MetricsEndpoint {
 public:
  // Serves `collectables` (held weakly: their owners must outlive the endpoint, or they vanish
  // from the scrape) on `listen` ("HOST:PORT"). UNAVAILABLE when the address cannot be bound.
  // With `port_file`, the bound port is written there (atomically, by rename).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen,
      const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables,
      const std::string& port_file = "");
  ~MetricsEndpoint();

  int port() const { return port_; }

 private:
  MetricsEndpoint() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace bagel::metrics
