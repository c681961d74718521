// How a bagel-train rank ends (TRAINER_CONTRACT.md, "Exit status"): the one list the trainer
// returns, the agent reports and the coordinator acts on.
#pragma once

#include <cstdint>
#include <vector>

namespace bagel::contract {

enum class ExitCode : int32_t {
  kDone = 0,              // every step; final checkpoint (and HF export when asked) written
  kFailed = 1,            // any other failure
  kInvalidSpec = 2,       // the spec or arguments are invalid: never restarted
  kStopped = 3,           // SIGTERM/SIGINT, after a checkpoint of the current step
  kCollectiveFailed = 4,  // a collective failed or timed out (another rank died or hung)
  kLaunchFailed = 127,    // the agent could not execute the trainer
};

constexpr int32_t ExitStatus(ExitCode code) { return static_cast<int32_t>(code); }

// The bounded label of an exit status, for metrics and messages: "completed" (0), "failed" (1 and
// any other code), "invalid_spec" (2), "stopped" (3), "collective_failure" (4), "launch_failure"
// (127), "signal" (128 + N: killed), "lost" (negative: the control plane could not confirm it).
const char* ExitReason(int32_t status);

// Every value ExitReason returns (metric series are created up front, at zero).
const std::vector<const char*>& AllExitReasons();

// Whether restarting the attempt may help: not after an invalid spec.
constexpr bool RestartMayHelp(int32_t status) {
  return status != ExitStatus(ExitCode::kInvalidSpec);
}

}  // namespace bagel::contract
