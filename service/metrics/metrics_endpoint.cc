#include "service/metrics/metrics_endpoint.h"

#include <prometheus/exposer.h>

#include <exception>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace bagel::metrics {

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables,
    const std::string& port_file) {
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint());
  try {
    // Two threads: a scrape never waits behind another one for long.
    e->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& ex) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", listen, ": ", ex.what()));
  }
  for (const auto& c : collectables) e->exposer_->RegisterCollectable(c);
  const auto ports = e->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", listen));
  }
  e->port_ = ports.front();
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << e->port_ << "\n";
    std::error_code ec;
    std::filesystem::rename(tmp, port_file, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("metrics: cannot write ", port_file, ": ", ec.message()));
    }
  }
  return e;
}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace bagel::metrics
