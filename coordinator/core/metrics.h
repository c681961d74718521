// The control plane's hooks for metrics (issue 8 implements them with prometheus-cpp). The
// control plane calls these under its lock: implementations must be cheap and never block.
#pragma once

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
  virtual void AttemptRestarted(const std::string& job_id) {}
  virtual void WorkerStateChanged(bagel::v1::WorkerState from, bagel::v1::WorkerState to) {}
  virtual void Progress(const std::string& job_id, const bagel::v1::Progress& progress) {}
  virtual void CheckpointPublished(const std::string& job_id, int64_t bytes, double seconds) {}
};

// Does nothing (the default until metrics are wired).
class NoopMetrics final : public ControlPlaneMetrics {};

}  // namespace bagel::coord
