// What the metrics exporter reads from the control plane at scrape time
// (ControlPlane::SnapshotForMetrics): job counts by state, the unfinished jobs with their
// progress and newest checkpoint, and the workers. Per-job series exist only for unfinished jobs,
// so their number stays bounded by what is queued or running (docs/METRICS.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bagel/v1/common.pb.h"

namespace bagel::coord {

struct JobMetricsView {
  std::string id;
  std::string name;
  std::string owner;
  int32_t stage = 0;
  std::string depends_on;
  bagel::v1::JobState state = bagel::v1::JOB_STATE_UNSPECIFIED;
  int32_t world_size = 0;
  int32_t restarts = 0;
  int32_t attempt = -1;                 // index of the newest attempt; -1: none yet
  int64_t attempt_started_unix_ms = 0;  // 0: none yet
  bagel::v1::Progress progress;         // rank 0's newest step/eval values
  bool has_step = false;                // a "step" line arrived (else progress holds no losses)
  int64_t checkpoint_step = -1;         // the newest complete checkpoint; -1: none
  int64_t checkpoint_bytes = 0;
  int64_t checkpoint_unix_ms = 0;
};

struct WorkerMetricsView {
  std::string name;
  bagel::v1::WorkerState state = bagel::v1::WORKER_STATE_UNSPECIFIED;
  int32_t gpus = 0;
  int32_t gpus_in_use = 0;
  int32_t cpu_slots = 0;
  int32_t cpu_slots_in_use = 0;
  int64_t last_heartbeat_unix_ms = 0;
};

struct ClusterSnapshot {
  std::map<bagel::v1::JobState, int64_t> jobs_by_state;  // every job, finished ones included
  std::vector<JobMetricsView> active_jobs;               // PENDING, SCHEDULED, RUNNING, RESTARTING
  std::vector<WorkerMetricsView> workers;
  int64_t now_unix_ms = 0;  // the control plane's clock when the snapshot was taken
};

}  // namespace bagel::coord
