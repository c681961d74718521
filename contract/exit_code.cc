#include "contract/exit_code.h"

namespace bagel::contract {

const char* ExitReason(int32_t status) {
  if (status < 0) return "lost";
  switch (static_cast<ExitCode>(status)) {
    case ExitCode::kDone:
      return "completed";
    case ExitCode::kInvalidSpec:
      return "invalid_spec";
    case ExitCode::kStopped:
      return "stopped";
    case ExitCode::kCollectiveFailed:
      return "collective_failure";
    case ExitCode::kLaunchFailed:
      return "launch_failure";
    case ExitCode::kFailed:
      break;
  }
  return status > 128 ? "signal" : "failed";
}

const std::vector<const char*>& AllExitReasons() {
  static const std::vector<const char*> kAll = {
      "completed",          "failed",         "invalid_spec", "stopped",
      "collective_failure", "launch_failure", "signal",       "lost"};
  return kAll;
}

}  // namespace bagel::contract
