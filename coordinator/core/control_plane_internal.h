// Small helpers shared by the files that define ControlPlane's member functions (control_plane.cc,
// job_api.cc, worker_api.cc, attempts.cc, checkpoint_files.cc, scheduling.cc,
// metrics_snapshot.cc). Not part of the control plane's interface: include it only there.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "bagel/v1/common.pb.h"

namespace bagel::coord::internal {

// SUCCEEDED, FAILED or CANCELLED: the job will not change again.
inline bool IsTerminal(bagel::v1::JobState s) {
  return s == bagel::v1::SUCCEEDED || s == bagel::v1::FAILED || s == bagel::v1::CANCELLED;
}

// STARTING, RUNNING or STOPPING: the attempt still has (or may have) ranks.
inline bool IsActive(bagel::v1::AttemptState s) {
  return s == bagel::v1::ATTEMPT_STARTING || s == bagel::v1::ATTEMPT_RUNNING ||
         s == bagel::v1::ATTEMPT_STOPPING;
}

// 1..max characters of [A-Za-z0-9._-] (request ids, worker names).
inline bool ValidName(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

// The exit status recorded for a rank that cannot report one (its worker was lost, it was not
// running after its agent reconnected, it did not confirm a stop in time): negative, which
// contract::ExitReason calls "lost".
inline constexpr int32_t kExitLost = -1;

}  // namespace bagel::coord::internal
