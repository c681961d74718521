#include "coordinator/metrics/exit_reason.h"

namespace bagel::metrics {

const char* ExitReason(int32_t code) {
  if (code < 0) return "lost";
  switch (code) {
    case 0:
      return "completed";
    case 2:
      return "invalid_spec";
    case 3:
      return "stopped";
    case kCollectiveFailureExitCode:
      return "collective_failure";
    case 127:
      return "launch_failure";
    default:
      return code > 128 ? "signal" : "failed";
  }
}

const std::vector<const char*>& AllExitReasons() {
  static const std::vector<const char*> kAll = {
      "completed",          "failed",         "invalid_spec", "stopped",
      "collective_failure", "launch_failure", "signal",       "lost"};
  return kAll;
}

}  // namespace bagel::metrics
