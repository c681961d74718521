// The control plane: jobs, attempts, workers and checkpoints, and every transition between their
// states (SERVICE.md, Job lifecycle). Transport-free: the gRPC services authenticate, then call
// these methods; errors are absl::Status with gRPC's codes.
//
// State lives in memory and is written through to the Store before a change is visible, so a
// restarted coordinator reloads exactly what it had said (Recover). Scheduling, lease expiry and
// stop deadlines advance in Tick(), driven by the server's timer (or by tests with a ManualClock).
//
// Ranks of an attempt are driven by assignments to the agents (START, STOP) delivered on each
// agent's stream; everything an agent reports (started, progress, exits) is idempotent, so
// agents can retry across reconnects and coordinator restarts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bagel/v1/common.pb.h"
#include "bagel/v1/job_service.pb.h"
#include "bagel/v1/worker_service.pb.h"
#include "config/job_spec.h"
#include "config/service_config.h"
#include "coordinator/auth/principal.h"
#include "coordinator/core/metrics.h"
#include "coordinator/core/metrics_snapshot.h"
#include "coordinator/policy/path_policy.h"
#include "coordinator/store/store.h"
#include "service/common/blocking_queue.h"
#include "service/common/clock.h"

namespace bagel::coord {

struct ControlPlaneOptions {
  std::string checkpoint_root;
  std::vector<std::string> data_roots;
  int64_t heartbeat_interval_ms = 2000;
  int64_t lease_ttl_ms = 10000;
  int64_t cancel_grace_ms = 30000;
  int64_t abort_grace_ms = 5000;
  int64_t stop_timeout_ms = 60000;
  int64_t max_active_jobs_per_user = 10000;

  static ControlPlaneOptions FromConfig(const config::ServiceConfig& c);
};

using EventQueue = service::BlockingQueue<bagel::v1::JobEvent>;
using AssignmentQueue = service::BlockingQueue<bagel::v1::Assignment>;

struct SubmitResult {
  bagel::v1::Job job;
  bool existing = false;
};

struct WatchHandle {
  bagel::v1::Job snapshot;
  std::shared_ptr<EventQueue> events;  // closed when the job ends or the server stops
  bool ended = false;                  // the job had already ended
};

struct LogLocation {
  std::string path;
  int32_t attempt = 0;
  bool attempt_active = false;
};

class ControlPlane {
 public:
  ControlPlane(ControlPlaneOptions options, Store* store, const service::Clock* clock,
               ControlPlaneMetrics* metrics = nullptr);

  // Reloads the stored state. Running attempts stay running: every known worker gets a fresh
  // lease so its agent can reconnect and reconcile.
  absl::Status Recover();

  // --- the user API (JobService); `who` is an authenticated user or admin ---
  absl::StatusOr<SubmitResult> SubmitJob(const Principal& who, const std::string& spec_yaml,
                                         const std::string& request_id);
  absl::StatusOr<bagel::v1::Job> GetJob(const Principal& who, const std::string& job_id);
  absl::StatusOr<bagel::v1::ListJobsResponse> ListJobs(const Principal& who,
                                                       const bagel::v1::ListJobsRequest& request);
  absl::StatusOr<bagel::v1::Job> CancelJob(const Principal& who, const std::string& job_id);
  absl::StatusOr<std::vector<bagel::v1::Checkpoint>> ListCheckpoints(const Principal& who,
                                                                     const std::string& job_id);
  absl::StatusOr<WatchHandle> WatchJob(const Principal& who, const std::string& job_id);
  // Where the log of `rank` of `attempt` (-1: newest) is kept.
  absl::StatusOr<LogLocation> LogPath(const Principal& who, const std::string& job_id,
                                      int32_t attempt, int32_t rank);
  bool AttemptActive(const std::string& job_id, int32_t attempt);
  // The job's HF export directory (FAILED_PRECONDITION until it succeeded with export_hf).
  absl::StatusOr<std::string> ExportDir(const Principal& who, const std::string& job_id);

  // --- the cluster API ---
  std::vector<bagel::v1::Worker> ListWorkers();
  absl::StatusOr<bagel::v1::Worker> DrainWorker(const Principal& who, const std::string& name,
                                                bool drain);

  // --- the worker API (WorkerService) ---
  absl::StatusOr<bagel::v1::RegisterResponse> Register(const bagel::v1::RegisterRequest& request);
  absl::StatusOr<bagel::v1::HeartbeatResponse> Heartbeat(
      const bagel::v1::HeartbeatRequest& request);
  // Opens the worker's assignment stream (closing any previous one) and queues what the worker
  // must do now (START of its pending ranks, STOP of attempts it must end).
  absl::StatusOr<std::shared_ptr<AssignmentQueue>> OpenAssignments(const std::string& name,
                                                                   const std::string& incarnation);
  void CloseAssignments(const std::string& name, const std::shared_ptr<AssignmentQueue>& queue);
  absl::Status ReportStarted(const bagel::v1::ReportStartedRequest& request);
  absl::Status ReportProgress(const bagel::v1::ReportProgressRequest& request);
  absl::Status ReportExit(const bagel::v1::ReportExitRequest& request);

  // Expires leases, enforces stop deadlines, schedules, flushes progress. Call periodically.
  void Tick();
  // Closes every stream queue (server shutdown).
  void Shutdown();

  // What the metrics exporter reads at scrape time: O(jobs + workers) under the lock.
  ClusterSnapshot SnapshotForMetrics();

  const ControlPlaneOptions& options() const { return options_; }
  size_t JobCountForTest();

 private:
  struct JobEntry {
    bagel::v1::Job job;  // attempts are in `attempts`
    config::JobSpec spec;
    std::vector<AttemptRecord> attempts;
    std::map<int64_t, bagel::v1::Checkpoint> checkpoints;  // by step
    int64_t runnable_since_ms = 0;
    bool progress_dirty = false;
    int64_t progress_saved_ms = 0;
    std::vector<std::weak_ptr<EventQueue>> watchers;
  };
  struct WorkerEntry {
    WorkerRecord rec;
    int64_t lease_expires_ms = 0;
    std::shared_ptr<AssignmentQueue> stream;
    std::vector<bagel::v1::Assignment> pending;  // queued before the stream opened
  };

  struct Usage {
    int gpus = 0;
    int cpu = 0;
    std::set<std::string> jobs;
  };

  // Helpers; every one expects mu_ held. Each group is defined in the file it names.

  // control_plane.cc: persistence, events, job state.
  AttemptRecord* ActiveAttempt(JobEntry& e);
  std::string JobDir(const std::string& job_id) const;
  // Writes `batch` plus every job, attempt and worker marked dirty, in one transaction; crashes
  // on store failure (a restart recovers from the last commit).
  void Commit(WriteBatch& batch);
  void MarkJob(const JobEntry& e);
  void MarkAttempt(const AttemptRecord& a);
  void Event(const JobEntry& e, const std::string& kind, const std::string& message,
             WriteBatch& batch);
  void SetJobState(JobEntry& e, bagel::v1::JobState state, const std::string& message,
                   WriteBatch& batch);
  void Publish(JobEntry& e, bagel::v1::JobEvent event);
  bagel::v1::Job PublicJob(const JobEntry& e, bool with_attempts) const;

  // job_api.cc
  absl::StatusOr<JobEntry*> VisibleJob(const Principal& who, const std::string& job_id);
  std::string NewJobId();

  // worker_api.cc: workers, leases, assignment streams.
  void Send(const std::string& worker, bagel::v1::Assignment a);
  void ExpireLeases(WriteBatch& batch);
  void SetWorkerState(WorkerEntry& w, bagel::v1::WorkerState state, WriteBatch& batch);

  // attempts.cc: the attempt state machine.
  void ApplyExit(const std::string& worker, const bagel::v1::RankExit& exit, WriteBatch& batch);
  bagel::v1::Assignment StartFor(const JobEntry& e, const AttemptRecord& a,
                                 const bagel::v1::Placement& p) const;
  void StartAttempt(JobEntry& e, const std::vector<std::string>& workers, WriteBatch& batch);
  void StopAttempt(JobEntry& e, AttemptRecord& a, bool cancel, const std::string& reason,
                   WriteBatch& batch);
  void RankExited(JobEntry& e, AttemptRecord& a, int32_t rank, int32_t code,
                  const std::string& message, WriteBatch& batch);
  void MaybeFinishAttempt(JobEntry& e, AttemptRecord& a, WriteBatch& batch);
  void EnforceStopDeadlines(WriteBatch& batch);

  // progress.cc: the trainer's progress lines.
  void ApplyTrainerLine(JobEntry& e, const AttemptRecord& a, const std::string& json,
                        WriteBatch& batch);
  void FlushProgress(WriteBatch& batch);
  void AppendMetricsLine(const std::string& job_id, int32_t attempt, const std::string& json);

  // checkpoint_files.cc: the job directories on disk.
  void SyncCheckpoints(JobEntry& e, WriteBatch& batch);
  // After a successful attempt: the final checkpoint LATEST names and the HF export directory,
  // where the trainer's "done" line did not give them.
  void AdoptFinalOutputs(JobEntry& e);
  // job -> step directory name -> why it is pinned.
  std::map<std::string, std::map<std::string, std::vector<std::string>>> ComputePins() const;
  void SyncPins();

  // scheduling.cc
  std::map<std::string, Usage> ComputeUsage() const;
  void Schedule(WriteBatch& batch);

  ControlPlaneOptions options_;
  Store* store_;
  const service::Clock* clock_;
  NoopMetrics noop_metrics_;
  ControlPlaneMetrics* metrics_;
  PathPolicy paths_;

  std::mutex mu_;
  std::map<std::string, JobEntry> jobs_;
  std::map<std::pair<std::string, std::string>, std::string> request_ids_;  // (owner, id) -> job
  std::map<std::string, WorkerEntry> workers_;
  std::set<std::string> dirty_jobs_;
  std::set<std::pair<std::string, int>> dirty_attempts_;
  std::set<std::string> dirty_workers_;
  std::map<std::string, std::string> pinned_written_;  // job -> PINNED content last written
  std::mt19937_64 rng_;
  bool shut_down_ = false;
};

}  // namespace bagel::coord
