#include "coordinator/metrics/coordinator_metrics.h"

#include "contract/exit_code.h"
#include "service/metrics/training_series.h"

#include <prometheus/gauge.h>

#include <set>

#include "contract/exit_code.h"
#include "service/metrics/build_info.h"

namespace bagel::metrics {
namespace {

using bagel::v1::JobState;
using bagel::v1::WorkerState;
using prometheus::MetricType;

constexpr int64_t kLostWorkerSeriesMs = 3600 * 1000;

// --- families kept in the registry (events) ---
const MetricDef kSubmitted = {"bagel_jobs_submitted_total", MetricType::Counter,
                              "Jobs accepted by SubmitJob (idempotent retries not counted).", ""};
const MetricDef kFinished = {"bagel_jobs_finished_total", MetricType::Counter,
                             "Jobs that ended, by final state (SUCCEEDED, FAILED, CANCELLED).",
                             "state"};
const MetricDef kQueueWait = {
    "bagel_job_queue_wait_seconds", MetricType::Histogram,
    "Queue wait: time from a job becoming runnable (submitted, its dependency done, or a "
    "restart queued) to its placement on workers.",
    ""};
const MetricDef kStartLatency = {
    "bagel_scheduling_latency_seconds", MetricType::Histogram,
    "Scheduling latency of a gang: time from an attempt's placement to every rank running "
    "(assignments delivered, processes started, rendezvous port known).",
    ""};
const MetricDef kTick = {"bagel_scheduler_pass_duration_seconds", MetricType::Histogram,
                         "Duration of one control-plane pass (lease expiry, stop deadlines, "
                         "scheduling, progress flush) as measured by the coordinator.",
                         ""};
const MetricDef kRestarts = {
    "bagel_restarts_total", MetricType::Counter,
    "Attempts restarted after a failure (from the newest complete checkpoint), all jobs.", ""};
const MetricDef kRankExits = {
    "bagel_rank_exits_total", MetricType::Counter,
    "Rank ends recorded by the coordinator, by reason: completed (0), failed (1), invalid_spec "
    "(2), stopped (3: SIGTERM after a checkpoint), collective_failure (4: a collective failed "
    "or timed out), launch_failure (127), signal (killed), lost (worker lost or no confirmation).",
    "reason"};
const MetricDef kLeasesExpired = {
    "bagel_worker_leases_expired_total", MetricType::Counter,
    "Workers marked LOST because their lease expired (no heartbeat within the lease TTL).", ""};
const MetricDef kCheckpointSeconds = {
    "bagel_checkpoint_save_duration_seconds", MetricType::Histogram,
    "Time the trainer took to write and publish one checkpoint (its checkpoint line's seconds), "
    "all jobs.",
    ""};
const MetricDef kCheckpointBlocking = {
    "bagel_checkpoint_blocking_duration_seconds", MetricType::Histogram,
    "Time the training loop waited for one checkpoint (its checkpoint line's blocking_s: the "
    "whole write when synchronous, the snapshot to host memory when asynchronous), all jobs.",
    ""};
const MetricDef kCheckpointBytes = {
    "bagel_checkpoint_written_bytes_total", MetricType::Counter,
    "Bytes of published checkpoints (every rank's files), all jobs.", ""};

// --- families built at scrape time (state) ---
const MetricDef kJobs = {"bagel_jobs", MetricType::Gauge,
                         "Jobs known to the coordinator by state (finished ones included).",
                         "state"};
const MetricDef kJobInfo = {
    "bagel_job_info", MetricType::Gauge,
    "Always 1 for each unfinished job; join on job_id for its name, owner, stage (1 or 2) and "
    "the job it depends on.",
    "job_id,name,owner,stage,depends_on"};
const MetricDef kJobState = {
    "bagel_job_state", MetricType::Gauge,
    "1 for the current state of each unfinished job (PENDING, SCHEDULED, RUNNING, RESTARTING).",
    "job_id,state"};
const MetricDef kJobRestarts = {"bagel_job_restarts_total", MetricType::Counter,
                                "Restarts used by each unfinished job (kept across coordinator "
                                "restarts; the series ends with the job).",
                                "job_id"};
const MetricDef kJobRanks = {"bagel_job_ranks", MetricType::Gauge,
                             "World size (ranks) of each unfinished job.", "job_id"};
const MetricDef kAttemptStart = {"bagel_job_attempt_start_timestamp_seconds", MetricType::Gauge,
                                 "Unix time the newest attempt of each unfinished job was placed.",
                                 "job_id"};
const MetricDef kCkptTime = {"bagel_checkpoint_last_timestamp_seconds", MetricType::Gauge,
                             "Unix time the newest complete checkpoint of each unfinished job was "
                             "published (absent until the first).",
                             "job_id"};
const MetricDef kCkptStep = {"bagel_checkpoint_last_step", MetricType::Gauge,
                             "Step of the newest complete checkpoint of each unfinished job.",
                             "job_id"};
const MetricDef kCkptSize = {"bagel_checkpoint_last_size_bytes", MetricType::Gauge,
                             "Size (every rank's files) of the newest complete checkpoint.",
                             "job_id"};
const MetricDef kCkptLastSeconds = {
    "bagel_checkpoint_last_save_duration_seconds", MetricType::Gauge,
    "Save time of the newest checkpoint this coordinator saw published, per unfinished job.",
    "job_id"};
const MetricDef kCkptLastBlocking = {
    "bagel_checkpoint_last_blocking_duration_seconds", MetricType::Gauge,
    "How long the training loop waited for the newest checkpoint this coordinator saw "
    "published, per unfinished job (below the save time when checkpoints are asynchronous).",
    "job_id"};
const MetricDef kWorkers = {"bagel_workers", MetricType::Gauge,
                            "Registered workers by state (READY, DRAINING, LOST).", "state"};
const MetricDef kHeartbeat = {
    "bagel_worker_last_heartbeat_timestamp_seconds", MetricType::Gauge,
    "Unix time of each registered worker's newest heartbeat (one series per worker name).",
    "worker"};
const MetricDef kGpus = {
    "bagel_cluster_gpus", MetricType::Gauge,
    "GPUs of the workers that are not LOST, by state: allocated (to ranks of active attempts) or "
    "free.",
    "state"};
const MetricDef kCpuSlots = {"bagel_cluster_cpu_slots", MetricType::Gauge,
                             "CPU slots (ranks of CPU jobs) of the workers that are not LOST, by "
                             "state: allocated or free.",
                             "state"};

const std::vector<JobState> kAllJobStates = {
    bagel::v1::PENDING,   bagel::v1::SCHEDULED, bagel::v1::RUNNING,  bagel::v1::RESTARTING,
    bagel::v1::SUCCEEDED, bagel::v1::FAILED,    bagel::v1::CANCELLED};

std::string WorkerStateLabel(WorkerState s) {
  switch (s) {
    case bagel::v1::WORKER_READY:
      return "READY";
    case bagel::v1::WORKER_DRAINING:
      return "DRAINING";
    case bagel::v1::WORKER_LOST:
      return "LOST";
    default:
      return "UNSPECIFIED";
  }
}

bool Terminal(JobState s) {
  return s == bagel::v1::SUCCEEDED || s == bagel::v1::FAILED || s == bagel::v1::CANCELLED;
}

prometheus::Histogram::BucketBoundaries Buckets(std::initializer_list<double> b) { return b; }

// A job's training series from the control plane's view of it (rank 0's newest lines, kept in
// the job record) and the tokens this exporter counted.
TrainingValues TrainingValuesOf(const coord::JobMetricsView& j,
                                const std::map<std::string, double>& tokens_total) {
  const auto& p = j.progress;
  TrainingValues v;
  v.step = p.step();
  v.total_steps = p.total_steps();
  v.last_line_unix_ms = p.updated_unix_ms();
  v.has_step = j.has_step;
  v.has_mse = j.stage == 2;
  v.ce = p.ce();
  v.mse = p.mse();
  v.lr = p.lr();
  v.grad_norm = p.grad_norm();
  v.tokens_per_s = p.tokens_per_s();
  v.step_time_s = p.step_time_s();
  v.mfu = p.mfu();
  v.mem_bytes = static_cast<double>(p.mem_bytes());
  v.has_eval = p.val_ce() != 0 || p.val_mse() != 0;
  v.val_ce = p.val_ce();
  v.val_mse = p.val_mse();
  if (auto t = tokens_total.find(j.id); t != tokens_total.end()) v.tokens_total = t->second;
  return v;
}

}  // namespace

const std::vector<MetricDef>& CoordinatorMetrics::Catalogue() {
  static const std::vector<MetricDef> kAll = [] {
    std::vector<MetricDef> all = {kBuildInfo,
                                  kSubmitted,
                                  kFinished,
                                  kQueueWait,
                                  kStartLatency,
                                  kTick,
                                  kRestarts,
                                  kRankExits,
                                  kLeasesExpired,
                                  kCheckpointSeconds,
                                  kCheckpointBlocking,
                                  kCheckpointBytes,
                                  kJobs,
                                  kJobInfo,
                                  kJobState,
                                  kJobRestarts,
                                  kJobRanks,
                                  kAttemptStart};
    const auto& training = TrainingSeriesDefs(TrainingScope::kJob);
    all.insert(all.end(), training.begin(), training.end());
    for (const MetricDef& d : {kCkptTime, kCkptStep, kCkptSize, kCkptLastSeconds, kCkptLastBlocking,
                               kWorkers, kHeartbeat, kGpus, kCpuSlots}) {
      all.push_back(d);
    }
    return all;
  }();
  return kAll;
}

std::shared_ptr<CoordinatorMetrics> CoordinatorMetrics::Create() {
  return std::shared_ptr<CoordinatorMetrics>(new CoordinatorMetrics());
}

CoordinatorMetrics::CoordinatorMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  AddBuildInfo(r, "coordinator");
  submitted_ =
      &prometheus::BuildCounter().Name(kSubmitted.name).Help(kSubmitted.help).Register(r).Add({});
  auto& finished = prometheus::BuildCounter().Name(kFinished.name).Help(kFinished.help).Register(r);
  for (JobState s : {bagel::v1::SUCCEEDED, bagel::v1::FAILED, bagel::v1::CANCELLED}) {
    finished_[s] = &finished.Add({{"state", JobState_Name(s)}});
  }
  queue_wait_ = &prometheus::BuildHistogram()
                     .Name(kQueueWait.name)
                     .Help(kQueueWait.help)
                     .Register(r)
                     .Add({}, Buckets({0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200,
                                       14400, 43200, 86400}));
  start_latency_ = &prometheus::BuildHistogram()
                        .Name(kStartLatency.name)
                        .Help(kStartLatency.help)
                        .Register(r)
                        .Add({}, Buckets({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}));
  tick_ = &prometheus::BuildHistogram()
               .Name(kTick.name)
               .Help(kTick.help)
               .Register(r)
               .Add({}, Buckets({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1, 0.25, 0.5, 1}));
  restarts_ =
      &prometheus::BuildCounter().Name(kRestarts.name).Help(kRestarts.help).Register(r).Add({});
  auto& exits = prometheus::BuildCounter().Name(kRankExits.name).Help(kRankExits.help).Register(r);
  for (const char* reason : contract::AllExitReasons())
    exits_[reason] = &exits.Add({{"reason", reason}});
  leases_expired_ = &prometheus::BuildCounter()
                         .Name(kLeasesExpired.name)
                         .Help(kLeasesExpired.help)
                         .Register(r)
                         .Add({});
  checkpoint_seconds_ =
      &prometheus::BuildHistogram()
           .Name(kCheckpointSeconds.name)
           .Help(kCheckpointSeconds.help)
           .Register(r)
           .Add({}, Buckets({0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200}));
  checkpoint_blocking_ =
      &prometheus::BuildHistogram()
           .Name(kCheckpointBlocking.name)
           .Help(kCheckpointBlocking.help)
           .Register(r)
           .Add({}, Buckets({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}));
  checkpoint_bytes_ = &prometheus::BuildCounter()
                           .Name(kCheckpointBytes.name)
                           .Help(kCheckpointBytes.help)
                           .Register(r)
                           .Add({});
}

void CoordinatorMetrics::SetSnapshotSource(SnapshotFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(fn);
}

void CoordinatorMetrics::JobStateChanged(JobState from, JobState to) {
  if (from == to || !Terminal(to)) return;
  if (auto it = finished_.find(to); it != finished_.end()) it->second->Increment();
}

void CoordinatorMetrics::JobSubmitted() { submitted_->Increment(); }

void CoordinatorMetrics::Scheduled(double queue_wait_seconds) {
  queue_wait_->Observe(std::max(0.0, queue_wait_seconds));
}

void CoordinatorMetrics::AttemptRunning(double start_seconds) {
  start_latency_->Observe(std::max(0.0, start_seconds));
}

void CoordinatorMetrics::AttemptRestarted(const std::string& job_id) { restarts_->Increment(); }

void CoordinatorMetrics::RankExited(int32_t exit_code) {
  exits_.at(contract::ExitReason(exit_code))->Increment();
}

void CoordinatorMetrics::WorkerStateChanged(WorkerState from, WorkerState to) {
  if (to == bagel::v1::WORKER_LOST && from != bagel::v1::WORKER_LOST) leases_expired_->Increment();
}

void CoordinatorMetrics::Progress(const std::string& job_id, const bagel::v1::Progress& p) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_total_[job_id] += static_cast<double>(std::max<int64_t>(0, p.tokens()));
}

void CoordinatorMetrics::CheckpointPublished(const std::string& job_id, int64_t bytes,
                                             double seconds, double blocking_s) {
  checkpoint_seconds_->Observe(std::max(0.0, seconds));
  checkpoint_blocking_->Observe(std::max(0.0, blocking_s));
  checkpoint_bytes_->Increment(static_cast<double>(std::max<int64_t>(0, bytes)));
  std::lock_guard<std::mutex> lock(mu_);
  last_checkpoint_seconds_[job_id] = seconds;
  last_checkpoint_blocking_[job_id] = blocking_s;
}

void CoordinatorMetrics::TickFinished(double seconds) { tick_->Observe(std::max(0.0, seconds)); }

std::vector<prometheus::MetricFamily> CoordinatorMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out = registry_->Collect();
  SnapshotFn fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn = snapshot_;
  }
  if (!fn) return out;
  // Read outside our lock: the control plane calls the hooks (which take it) under its own.
  const coord::ClusterSnapshot snap = fn();

  auto jobs = EmptyFamily(kJobs);
  for (JobState s : kAllJobStates) {
    auto it = snap.jobs_by_state.find(s);
    AddSample(jobs, {JobState_Name(s)}, it == snap.jobs_by_state.end() ? 0 : it->second, kJobs);
  }
  out.push_back(std::move(jobs));

  auto info = EmptyFamily(kJobInfo), state = EmptyFamily(kJobState),
       restarts = EmptyFamily(kJobRestarts), ranks = EmptyFamily(kJobRanks),
       attempt_start = EmptyFamily(kAttemptStart), ckpt_time = EmptyFamily(kCkptTime),
       ckpt_step = EmptyFamily(kCkptStep), ckpt_size = EmptyFamily(kCkptSize),
       ckpt_secs = EmptyFamily(kCkptLastSeconds), ckpt_blocking = EmptyFamily(kCkptLastBlocking);
  TrainingSeriesBuilder training(TrainingScope::kJob);
  std::set<std::string> active;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& j : snap.active_jobs) {
    active.insert(j.id);
    const std::vector<std::string> id = {j.id};
    AddSample(info, {j.id, j.name, j.owner, std::to_string(j.stage), j.depends_on}, 1, kJobInfo);
    AddSample(state, {j.id, JobState_Name(j.state)}, 1, kJobState);
    AddSample(restarts, id, j.restarts, kJobRestarts);
    AddSample(ranks, id, j.world_size, kJobRanks);
    if (j.attempt >= 0)
      AddSample(attempt_start, id, j.attempt_started_unix_ms / 1000.0, kAttemptStart);
    training.Add(id, TrainingValuesOf(j, tokens_total_));
    if (j.checkpoint_step >= 0) {
      AddSample(ckpt_time, id, j.checkpoint_unix_ms / 1000.0, kCkptTime);
      AddSample(ckpt_step, id, static_cast<double>(j.checkpoint_step), kCkptStep);
      AddSample(ckpt_size, id, static_cast<double>(j.checkpoint_bytes), kCkptSize);
    }
    if (auto c = last_checkpoint_seconds_.find(j.id); c != last_checkpoint_seconds_.end()) {
      AddSample(ckpt_secs, id, c->second, kCkptLastSeconds);
    }
    if (auto c = last_checkpoint_blocking_.find(j.id); c != last_checkpoint_blocking_.end()) {
      AddSample(ckpt_blocking, id, c->second, kCkptLastBlocking);
    }
  }
  // Finished jobs leave no series behind, here or in these maps.
  std::erase_if(tokens_total_, [&](const auto& kv) { return !active.count(kv.first); });
  std::erase_if(last_checkpoint_seconds_, [&](const auto& kv) { return !active.count(kv.first); });
  std::erase_if(last_checkpoint_blocking_, [&](const auto& kv) { return !active.count(kv.first); });
  for (auto* f : {&info, &state, &restarts, &ranks, &attempt_start}) out.push_back(std::move(*f));
  training.AppendTo(out, /*keep_empty=*/true);
  for (auto* f : {&ckpt_time, &ckpt_step, &ckpt_size, &ckpt_secs, &ckpt_blocking})
    out.push_back(std::move(*f));

  std::map<std::string, int64_t> workers = {{"READY", 0}, {"DRAINING", 0}, {"LOST", 0}};
  auto heartbeat = EmptyFamily(kHeartbeat);
  int64_t gpus = 0, gpus_used = 0, cpu = 0, cpu_used = 0;
  const int64_t now_unix_ms = snap.now_unix_ms;
  for (const auto& w : snap.workers) {
    if (auto it = workers.find(WorkerStateLabel(w.state)); it != workers.end()) ++it->second;
    // A lost worker keeps its series for an hour (the dashboard shows its heartbeat age), then
    // drops out, so pod names that change with every reschedule do not pile up.
    const bool lost = w.state == bagel::v1::WORKER_LOST;
    if (!lost || now_unix_ms - w.last_heartbeat_unix_ms < kLostWorkerSeriesMs) {
      AddSample(heartbeat, {w.name}, w.last_heartbeat_unix_ms / 1000.0, kHeartbeat);
    }
    if (lost) continue;
    gpus += w.gpus;
    gpus_used += w.gpus_in_use;
    cpu += w.cpu_slots;
    cpu_used += w.cpu_slots_in_use;
  }
  auto by_state = EmptyFamily(kWorkers);
  for (const auto& [s, n] : workers) AddSample(by_state, {s}, static_cast<double>(n), kWorkers);
  auto gpu_family = EmptyFamily(kGpus), cpu_family = EmptyFamily(kCpuSlots);
  AddSample(gpu_family, {"allocated"}, static_cast<double>(gpus_used), kGpus);
  AddSample(gpu_family, {"free"}, static_cast<double>(std::max<int64_t>(0, gpus - gpus_used)),
            kGpus);
  AddSample(cpu_family, {"allocated"}, static_cast<double>(cpu_used), kCpuSlots);
  AddSample(cpu_family, {"free"}, static_cast<double>(std::max<int64_t>(0, cpu - cpu_used)),
            kCpuSlots);
  out.push_back(std::move(by_state));
  out.push_back(std::move(heartbeat));
  out.push_back(std::move(gpu_family));
  out.push_back(std::move(cpu_family));
  // A family with no series (no unfinished job yet) is left out of the exposition.
  std::erase_if(out, [](const prometheus::MetricFamily& f) { return f.metric.empty(); });
  return out;
}

}  // namespace bagel::metrics
