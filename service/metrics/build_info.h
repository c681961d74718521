// bagel_build_info{component, version, revision} 1: which build a process runs (Prometheus's
// build-info convention; join it onto other series by instance). The version is the CMake
// project's; the revision is the git commit at configure time (-DBAGEL_REVISION overrides it,
// e.g. in the container build, which has no .git).
#pragma once

#include <string>

#include <prometheus/registry.h>

#include "service/metrics/metric_def.h"

namespace bagel::metrics {

extern const MetricDef kBuildInfo;

std::string BuildVersion();
std::string BuildRevision();

// Adds bagel_build_info with component = "coordinator" or "worker" to `registry`.
void AddBuildInfo(prometheus::Registry& registry, const std::string& component);

}  // namespace bagel::metrics
