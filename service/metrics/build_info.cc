#include "service/metrics/build_info.h"

#include <prometheus/gauge.h>

#ifndef BAGEL_VERSION
#define BAGEL_VERSION "unknown"
#endif
#ifndef BAGEL_REVISION
#define BAGEL_REVISION "unknown"
#endif

namespace bagel::metrics {

const MetricDef kBuildInfo = {
    "bagel_build_info", prometheus::MetricType::Gauge,
    "Always 1; the labels say which build of the BAGEL training service this process runs "
    "(component: coordinator or worker; version: the project version; revision: the git commit).",
    "component,revision,version"};

std::string BuildVersion() { return BAGEL_VERSION; }
std::string BuildRevision() { return BAGEL_REVISION; }

void AddBuildInfo(prometheus::Registry& registry, const std::string& component) {
  prometheus::BuildGauge()
      .Name(kBuildInfo.name)
      .Help(kBuildInfo.help)
      .Register(registry)
      .Add({{"component", component}, {"version", BuildVersion()}, {"revision", BuildRevision()}})
      .Set(1);
}

}  // namespace bagel::metrics
