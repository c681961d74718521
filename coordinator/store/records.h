// What the control plane persists: jobs, attempts (with each rank's state), workers, checkpoints
// and events. Public parts reuse the bagel.v1 messages; the rest is the coordinator's own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bagel/v1/common.pb.h"

namespace bagel::coord {

enum class RankState { kPending = 0, kRunning = 1, kExited = 2 };

struct RankRecord {
  int32_t rank = 0;
  std::string worker;
  RankState state = RankState::kPending;
  int32_t exit_code = 0;
  std::string message;
};

struct AttemptRecord {
  std::string job_id;
  bagel::v1::Attempt attempt;
  std::vector<RankRecord> ranks;  // index = rank
  // Set while the attempt is stopping: why, and when unconfirmed ranks are taken as gone.
  bool stop_for_cancel = false;
  bool permanent_failure = false;  // exit 2 (invalid spec): no restart
  int64_t stop_deadline_ms = 0;
};

struct WorkerRecord {
  bagel::v1::Worker worker;
  std::string incarnation;
  bool drain = false;  // kept across LOST/READY transitions
};

struct EventRecord {
  std::string job_id;
  int64_t unix_ms = 0;
  std::string kind;  // "state", "restart", "error", "checkpoint", ...
  std::string message;
};

// Writes applied together, in one transaction.
struct WriteBatch {
  std::vector<bagel::v1::Job> jobs;  // upserts (attempts field ignored)
  std::vector<AttemptRecord> attempts;
  std::vector<WorkerRecord> workers;
  std::vector<bagel::v1::Checkpoint> checkpoints;
  std::vector<std::pair<std::string, int64_t>> deleted_checkpoints;  // (job, step)
  std::vector<EventRecord> events;

  bool empty() const {
    return jobs.empty() && attempts.empty() && workers.empty() && checkpoints.empty() &&
           deleted_checkpoints.empty() && events.empty();
  }
};

// Everything the coordinator reloads after a restart.
struct StoredState {
  std::vector<bagel::v1::Job> jobs;
  std::vector<AttemptRecord> attempts;
  std::vector<WorkerRecord> workers;
  std::vector<bagel::v1::Checkpoint> checkpoints;
};

}  // namespace bagel::coord
