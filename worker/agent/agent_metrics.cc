#include "worker/agent/agent_metrics.h"

#include <prometheus/gauge.h>

#include <algorithm>
#include <map>

#include "contract/exit_code.h"
#include "contract/progress_line.h"
#include "contract/skip_reasons.h"
#include "service/metrics/build_info.h"

namespace bagel::agent {
namespace {

using metrics::AddSample;
using metrics::EmptyFamily;
using metrics::MetricDef;
using prometheus::MetricType;

// --- families kept in the registry (events) ---
const MetricDef kRegistrations = {
    "bagel_agent_registrations_total", MetricType::Counter,
    "Register calls to the coordinator by result (ok, failed); each reconnect registers again.",
    "result"};
const MetricDef kHeartbeats = {"bagel_agent_heartbeats_total", MetricType::Counter,
                               "Lease heartbeats sent to the coordinator by result (ok, failed).",
                               "result"};
const MetricDef kStarts = {"bagel_agent_rank_starts_total", MetricType::Counter,
                           "bagel-train ranks this agent started (every attempt).", ""};
const MetricDef kRestarts = {
    "bagel_agent_rank_restarts_total", MetricType::Counter,
    "bagel-train ranks this agent started for a restarted attempt (attempt index above 0).", ""};
const MetricDef kExits = {
    "bagel_agent_rank_exits_total", MetricType::Counter,
    "bagel-train ranks of this agent that ended, by reason: completed (0), failed (1), "
    "invalid_spec (2), stopped (3: SIGTERM after a checkpoint), collective_failure (4), "
    "launch_failure (127), signal (killed), lost.",
    "reason"};
const MetricDef kLines = {"bagel_agent_progress_lines_total", MetricType::Counter,
                          "JSON progress lines read from this agent's ranks and queued for the "
                          "coordinator.",
                          ""};
const MetricDef kDropped = {
    "bagel_agent_progress_lines_dropped_total", MetricType::Counter,
    "Step lines dropped because the coordinator was unreachable for long (the backlog is capped; "
    "checkpoint, eval and done lines are never dropped).",
    ""};
const MetricDef kCheckpoints = {"bagel_agent_checkpoints_total", MetricType::Counter,
                                "Checkpoints published by ranks of this agent (checkpoint lines).",
                                ""};

// --- families built at scrape time (state) ---
const MetricDef kRegistered = {
    "bagel_agent_registered", MetricType::Gauge,
    "1 while the agent is registered with the coordinator (holds a lease), else 0.", ""};
const MetricDef kLastHeartbeat = {
    "bagel_agent_last_heartbeat_timestamp_seconds", MetricType::Gauge,
    "Unix time of the newest heartbeat the coordinator acknowledged (absent before the first).",
    ""};
const MetricDef kRanks = {"bagel_agent_ranks", MetricType::Gauge,
                          "bagel-train processes of this agent alive now, by state (running, "
                          "stopping: told to stop, not yet exited).",
                          "state"};
const MetricDef kGpus = {"bagel_agent_gpus", MetricType::Gauge,
                         "GPUs this agent offers, by state (allocated to ranks, free).", "state"};
const MetricDef kBacklog = {
    "bagel_agent_pending_reports", MetricType::Gauge,
    "Reports not yet acknowledged by the coordinator, by kind (started, progress, exits).", "kind"};
const MetricDef kGpuUsed = {"bagel_gpu_memory_used_bytes", MetricType::Gauge,
                            "Device memory in use on each GPU of this machine (nvidia-smi).",
                            "gpu"};
const MetricDef kGpuTotal = {"bagel_gpu_memory_total_bytes", MetricType::Gauge,
                             "Device memory of each GPU of this machine (nvidia-smi).", "gpu"};
const MetricDef kRankRunning = {
    "bagel_rank_running", MetricType::Gauge,
    "1 while the rank's bagel-train process runs on this agent, 0 after it ended (kept for the "
    "newest finished ranks only).",
    "job_id,rank"};
const MetricDef kRankSkipped = {
    "bagel_rank_data_skipped_records_total", MetricType::Counter,
    "Dataset records the job's loaders skipped (all ranks), by reason: missing_image, bad_image, "
    "malformed, no_loss, unsupported, too_long, unreadable_file, dropped_at_yield, other.",
    "job_id,rank,reason"};
const MetricDef kRankCkptTime = {
    "bagel_rank_checkpoint_last_timestamp_seconds", MetricType::Gauge,
    "Unix time the rank's newest checkpoint was published (absent before the first).",
    "job_id,rank"};
const MetricDef kRankCkptStep = {"bagel_rank_checkpoint_last_step", MetricType::Gauge,
                                 "Step of the rank's newest published checkpoint.", "job_id,rank"};
const MetricDef kRankCkptSeconds = {
    "bagel_rank_checkpoint_last_save_duration_seconds", MetricType::Gauge,
    "Time the newest checkpoint took to write, verify and publish (every rank's shard).",
    "job_id,rank"};
const MetricDef kRankCkptBlocking = {
    "bagel_rank_checkpoint_last_blocking_duration_seconds", MetricType::Gauge,
    "How long the training loop waited for the newest checkpoint (the snapshot when "
    "asynchronous, the whole write when not).",
    "job_id,rank"};
const MetricDef kRankCkptBytes = {"bagel_rank_checkpoint_last_size_bytes", MetricType::Gauge,
                                  "Size of the newest checkpoint (every rank's files).",
                                  "job_id,rank"};

}  // namespace

const std::vector<MetricDef>& AgentMetrics::Catalogue() {
  static const std::vector<MetricDef> kAll = [] {
    std::vector<MetricDef> all = {metrics::kBuildInfo,
                                  kRegistrations,
                                  kHeartbeats,
                                  kStarts,
                                  kRestarts,
                                  kExits,
                                  kLines,
                                  kDropped,
                                  kCheckpoints,
                                  kRegistered,
                                  kLastHeartbeat,
                                  kRanks,
                                  kGpus,
                                  kBacklog,
                                  kGpuUsed,
                                  kGpuTotal,
                                  kRankRunning};
    const auto& training = metrics::TrainingSeriesDefs(metrics::TrainingScope::kRank);
    all.insert(all.end(), training.begin(), training.end());
    for (const MetricDef& d : {kRankSkipped, kRankCkptTime, kRankCkptStep, kRankCkptSeconds,
                               kRankCkptBlocking, kRankCkptBytes}) {
      all.push_back(d);
    }
    return all;
  }();
  return kAll;
}

std::shared_ptr<AgentMetrics> AgentMetrics::Create(GpuMemoryFn gpu_memory, size_t keep_finished) {
  return std::shared_ptr<AgentMetrics>(new AgentMetrics(std::move(gpu_memory), keep_finished));
}

AgentMetrics::AgentMetrics(GpuMemoryFn gpu_memory, size_t keep_finished)
    : registry_(std::make_shared<prometheus::Registry>()),
      gpu_memory_(std::move(gpu_memory)),
      keep_finished_(keep_finished) {
  auto& r = *registry_;
  metrics::AddBuildInfo(r, "worker");
  auto counter = [&](const MetricDef& d) -> prometheus::Family<prometheus::Counter>& {
    return prometheus::BuildCounter().Name(d.name).Help(d.help).Register(r);
  };
  auto& reg = counter(kRegistrations);
  registrations_ok_ = &reg.Add({{"result", "ok"}});
  registrations_failed_ = &reg.Add({{"result", "failed"}});
  auto& hb = counter(kHeartbeats);
  heartbeats_ok_ = &hb.Add({{"result", "ok"}});
  heartbeats_failed_ = &hb.Add({{"result", "failed"}});
  starts_ = &counter(kStarts).Add({});
  restarts_ = &counter(kRestarts).Add({});
  auto& exits = counter(kExits);
  for (const char* reason : contract::AllExitReasons())
    exits_[reason] = &exits.Add({{"reason", reason}});
  lines_ = &counter(kLines).Add({});
  dropped_ = &counter(kDropped).Add({});
  checkpoints_ = &counter(kCheckpoints).Add({});
}

void AgentMetrics::SetHealthSource(HealthFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  health_ = std::move(fn);
}

void AgentMetrics::Registered(bool ok) {
  (ok ? registrations_ok_ : registrations_failed_)->Increment();
}

void AgentMetrics::Heartbeat(bool ok) { (ok ? heartbeats_ok_ : heartbeats_failed_)->Increment(); }

void AgentMetrics::RankStarted(const std::string& job_id, int32_t attempt, int32_t rank) {
  starts_->Increment();
  if (attempt > 0) restarts_->Increment();
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{job_id, rank};
  RankSeries& series = ranks_[key];
  series.running = true;
  series.attempt = std::max(series.attempt, attempt);
  std::erase(finished_, key);
}

void AgentMetrics::Line(const std::string& job_id, int32_t attempt, int32_t rank,
                        const std::string& json, int64_t unix_ms) {
  lines_->Increment();
  const auto line = contract::ParseProgressLine(json);
  if (!line) return;
  using Kind = contract::ProgressLine::Kind;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ranks_.find({job_id, rank});
  if (it == ranks_.end()) return;  // a rank this agent did not start (or long forgotten)
  // A late line of an attempt that a newer one replaced must not move the new one's series.
  if (attempt < it->second.attempt) return;
  RankSeries& s = it->second;
  s.training.Observe(*line, unix_ms);
  s.training.last_line_unix_ms = unix_ms;  // every line shows the rank alive
  if (line->kind == Kind::kCheckpoint || line->kind == Kind::kDone) s.training.step = line->step;
  if (line->kind == Kind::kStep && line->has_data_counts) {
    // Cumulative counts; a reason outside the data pipeline's list is folded into "other" so
    // the label stays bounded (contract/skip_reasons.h).
    std::map<std::string, double> skipped;
    for (const auto& [reason, n] : line->data_skipped_by_reason) {
      skipped[contract::ReportedSkipReason(reason)] += static_cast<double>(n);
    }
    for (const auto& [reason, n] : skipped) s.skipped[reason] = std::max(s.skipped[reason], n);
  } else if (line->kind == Kind::kCheckpoint) {
    checkpoints_->Increment();
    s.checkpoint_unix_ms = unix_ms;
    s.checkpoint_step = line->step;
    s.checkpoint_seconds = line->seconds;
    s.checkpoint_blocking_s = line->blocking_s;
    s.checkpoint_bytes = line->bytes;
  }
}

void AgentMetrics::LineDropped() { dropped_->Increment(); }

void AgentMetrics::RankExited(const std::string& job_id, int32_t attempt, int32_t rank,
                              int exit_code) {
  exits_.at(contract::ExitReason(exit_code))->Increment();
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{job_id, rank};
  auto it = ranks_.find(key);
  // The exit of an attempt that a newer one replaced leaves the newer one's series running.
  if (it == ranks_.end() || !it->second.running || attempt < it->second.attempt) return;
  it->second.running = false;
  finished_.push_back(key);
  while (finished_.size() > keep_finished_) {
    ranks_.erase(finished_.front());
    finished_.pop_front();
  }
}

std::vector<prometheus::MetricFamily> AgentMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out = registry_->Collect();
  HealthFn health;
  {
    std::lock_guard<std::mutex> lock(mu_);
    health = health_;
  }
  if (health) {
    // Read outside our lock: the agent calls the hooks (which take it) under its own.
    const AgentHealth h = health();
    auto registered = EmptyFamily(kRegistered);
    AddSample(registered, {}, h.registered ? 1 : 0, kRegistered);
    out.push_back(std::move(registered));
    if (h.last_heartbeat_unix_ms > 0) {
      auto hb = EmptyFamily(kLastHeartbeat);
      AddSample(hb, {}, h.last_heartbeat_unix_ms / 1000.0, kLastHeartbeat);
      out.push_back(std::move(hb));
    }
    auto ranks = EmptyFamily(kRanks);
    AddSample(ranks, {"running"}, h.ranks_running, kRanks);
    AddSample(ranks, {"stopping"}, h.ranks_stopping, kRanks);
    out.push_back(std::move(ranks));
    auto gpus = EmptyFamily(kGpus);
    AddSample(gpus, {"allocated"}, std::max(0, h.gpus - h.gpus_free), kGpus);
    AddSample(gpus, {"free"}, h.gpus_free, kGpus);
    out.push_back(std::move(gpus));
    auto backlog = EmptyFamily(kBacklog);
    AddSample(backlog, {"started"}, static_cast<double>(h.backlog_started), kBacklog);
    AddSample(backlog, {"progress"}, static_cast<double>(h.backlog_progress), kBacklog);
    AddSample(backlog, {"exits"}, static_cast<double>(h.backlog_exits), kBacklog);
    out.push_back(std::move(backlog));
  }
  if (gpu_memory_) {
    if (auto g = gpu_memory_(); g.ok() && !g->empty()) {
      auto used = EmptyFamily(kGpuUsed), total = EmptyFamily(kGpuTotal);
      for (const auto& d : *g) {
        AddSample(used, {std::to_string(d.index)}, static_cast<double>(d.used_bytes), kGpuUsed);
        AddSample(total, {std::to_string(d.index)}, static_cast<double>(d.total_bytes), kGpuTotal);
      }
      out.push_back(std::move(used));
      out.push_back(std::move(total));
    }
  }

  auto running = EmptyFamily(kRankRunning), ckpt_time = EmptyFamily(kRankCkptTime),
       ckpt_step = EmptyFamily(kRankCkptStep), ckpt_secs = EmptyFamily(kRankCkptSeconds),
       ckpt_bytes = EmptyFamily(kRankCkptBytes), skipped = EmptyFamily(kRankSkipped),
       ckpt_blocking = EmptyFamily(kRankCkptBlocking);
  metrics::TrainingSeriesBuilder training(metrics::TrainingScope::kRank);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, s] : ranks_) {
      const std::vector<std::string> id = {key.first, std::to_string(key.second)};
      AddSample(running, id, s.running ? 1 : 0, kRankRunning);
      training.Add(id, s.training);
      if (s.training.has_step) {
        for (const auto& [reason, n] : s.skipped) {
          AddSample(skipped, {key.first, std::to_string(key.second), reason}, n, kRankSkipped);
        }
      }
      if (s.checkpoint_unix_ms > 0) {
        AddSample(ckpt_time, id, s.checkpoint_unix_ms / 1000.0, kRankCkptTime);
        AddSample(ckpt_step, id, static_cast<double>(s.checkpoint_step), kRankCkptStep);
        AddSample(ckpt_secs, id, s.checkpoint_seconds, kRankCkptSeconds);
        AddSample(ckpt_blocking, id, s.checkpoint_blocking_s, kRankCkptBlocking);
        AddSample(ckpt_bytes, id, static_cast<double>(s.checkpoint_bytes), kRankCkptBytes);
      }
    }
  }
  if (!running.metric.empty()) out.push_back(std::move(running));
  training.AppendTo(out, /*keep_empty=*/false);
  for (auto* f : {&skipped, &ckpt_time, &ckpt_step, &ckpt_secs, &ckpt_blocking, &ckpt_bytes}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace bagel::agent
