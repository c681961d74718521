// The control plane's hooks for metrics (coordinator/metrics implements them with prometheus-cpp;
// docs/METRICS.md). The control plane calls these under its lock: implementations
// must be cheap and never block, and must not call back into the control plane. State that is
// better read than counted (jobs and workers by state, per-job training values) is not pushed
// through these hooks: the exporter reads it at scrape time (ControlPlane::SnapshotForMetrics).
#pragma once

#include <cstdint>
#include <string>

#include "bagel/v1/common.pb.h"

namespace bagel::coord {

class ControlPlaneMetrics {
 public:
  virtual ~ControlPlaneMetrics() = default;
  virtual void JobStateChanged(bagel::v1::JobState from, bagel::v1::JobState to) {}
  virtual void JobSubmitted() {}
  // Time from a job becoming runnable (submit, dependency done, restart) to its placement.
  virtual void Scheduled(double queue_wait_seconds) {}
  // Time from an attempt's placement to every rank running (the gang start).
  virtual void AttemptRunning(double start_seconds) {}
  virtual void AttemptRestarted(const std::string& job_id) {}
  // A rank's end as the control plane records it: its exit status, 128 + signal, or -1 when it
  // could not confirm (worker lost, stop deadline passed).
  virtual void RankExited(int32_t exit_code) {}
  virtual void WorkerStateChanged(bagel::v1::WorkerState from, bagel::v1::WorkerState to) {}
  // A "step" line of rank 0 was applied to the job's progress.
  virtual void Progress(const std::string& job_id, const bagel::v1::Progress& progress) {}
  virtual void CheckpointPublished(const std::string& job_id, int64_t bytes, double seconds,
                                   double blocking_s) {}
  // One pass of Tick() (leases, stop deadlines, scheduling, flushes) took this long.
  virtual void TickFinished(double seconds) {}
};

// Does nothing (the default when no exporter is wired).
class NoopMetrics final : public ControlPlaneMetrics {};

}  // namespace bagel::coord
