// The bounded label value for a rank's exit status (docs/TRAINER_CONTRACT.md, Exit status):
// "completed" (0), "failed" (1 and other codes), "invalid_spec" (2), "stopped" (3, SIGTERM after a
// checkpoint), "collective_failure" (4, a collective failed or timed out), "launch_failure" (127,
// the trainer could not be executed), "signal" (128 + N, killed), "lost" (negative: the control
// plane could not confirm the exit).
#pragma once

#include <cstdint>
#include <vector>

namespace bagel::metrics {

const char* ExitReason(int32_t exit_code);

// Every value ExitReason returns (series are created up front, at zero).
const std::vector<const char*>& AllExitReasons();

// The trainer's exit status for a failed or timed-out collective.
inline constexpr int32_t kCollectiveFailureExitCode = 4;

}  // namespace bagel::metrics
