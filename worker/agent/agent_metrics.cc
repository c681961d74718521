#include "worker/agent/agent_metrics.h"

#include <prometheus/gauge.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "coordinator/metrics/build_info.h"
#include "coordinator/metrics/exit_reason.h"
#include "worker/data/datasets/skip_reasons.h"

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
const MetricDef kRankStep = {"bagel_rank_step", MetricType::Gauge,
                             "Newest step the rank reported (started or step line).",
                             "job_id,rank"};
const MetricDef kRankTarget = {"bagel_rank_target_steps", MetricType::Gauge,
                               "Steps the job trains for, as the rank reported it.", "job_id,rank"};
const MetricDef kRankLoss = {
    "bagel_rank_loss", MetricType::Gauge,
    "Training loss of the rank's newest step line by head: ce (next-token cross-entropy) and mse "
    "(flow-matching MSE, Stage 2); the global mean over micro-batches as the trainer logs it.",
    "job_id,rank,head"};
const MetricDef kRankValLoss = {"bagel_rank_validation_loss", MetricType::Gauge,
                                "Loss on the held-out eval set at the rank's newest eval line, by "
                                "head (ce, mse).",
                                "job_id,rank,head"};
const MetricDef kRankLr = {"bagel_rank_learning_rate", MetricType::Gauge,
                           "Learning rate of the rank's newest step line.", "job_id,rank"};
const MetricDef kRankGradNorm = {"bagel_rank_grad_norm", MetricType::Gauge,
                                 "Global gradient L2 norm (before clipping) of the newest step.",
                                 "job_id,rank"};
const MetricDef kRankTokens = {
    "bagel_rank_tokens_total", MetricType::Counter,
    "Tokens (all ranks of the job) of the logged steps this agent forwarded; rate() gives a "
    "smoothed throughput.",
    "job_id,rank"};
const MetricDef kRankTokensPerS = {
    "bagel_rank_tokens_per_second", MetricType::Gauge,
    "Throughput of the newest step: tokens of all ranks divided by its step time.", "job_id,rank"};
const MetricDef kRankStepTime = {"bagel_rank_step_duration_seconds", MetricType::Gauge,
                                 "Wall time of the newest logged optimizer step.", "job_id,rank"};
const MetricDef kRankMfu = {
    "bagel_rank_mfu_ratio", MetricType::Gauge,
    "Model FLOPs utilisation of the newest step (BAGEL's convention, docs/METRICS.md; 0 on CPU).",
    "job_id,rank"};
const MetricDef kRankMemory = {
    "bagel_rank_peak_memory_bytes", MetricType::Gauge,
    "Peak memory the rank reported in its newest step line (mem_bytes: the training device's "
    "peak allocated bytes on a GPU, the process's peak resident memory on CPU).",
    "job_id,rank"};
const MetricDef kRankSkipped = {
    "bagel_rank_data_skipped_records_total", MetricType::Counter,
    "Dataset records the job's loaders skipped (all ranks), by reason: missing_image, bad_image, "
    "malformed, no_loss, unsupported, too_long, unreadable_file, dropped_at_yield, other.",
    "job_id,rank,reason"};
const MetricDef kRankLastLine = {
    "bagel_rank_last_progress_timestamp_seconds", MetricType::Gauge,
    "Unix time of the rank's newest progress line: a stalled rank stops moving it.", "job_id,rank"};
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
const MetricDef kRankCkptBytes = {"bagel_rank_checkpoint_last_size_bytes", MetricType::Gauge,
                                  "Size of the newest checkpoint (every rank's files).",
                                  "job_id,rank"};

template <typename T>
void Get(const nlohmann::json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && it->is_number()) out = it->get<T>();
}

}  // namespace

const std::vector<MetricDef>& AgentMetrics::Catalogue() {
  static const std::vector<MetricDef> kAll = {metrics::kBuildInfo,
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
                                              kRankRunning,
                                              kRankStep,
                                              kRankTarget,
                                              kRankLoss,
                                              kRankValLoss,
                                              kRankLr,
                                              kRankGradNorm,
                                              kRankTokens,
                                              kRankTokensPerS,
                                              kRankStepTime,
                                              kRankMfu,
                                              kRankMemory,
                                              kRankSkipped,
                                              kRankLastLine,
                                              kRankCkptTime,
                                              kRankCkptStep,
                                              kRankCkptSeconds,
                                              kRankCkptBytes};
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
  for (const char* reason : metrics::AllExitReasons())
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
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  const auto ev = j.find("event");
  if (ev == j.end() || !ev->is_string()) return;
  const std::string event = ev->get<std::string>();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ranks_.find({job_id, rank});
  if (it == ranks_.end()) return;  // a rank this agent did not start (or long forgotten)
  // A late line of an attempt that a newer one replaced must not move the new one's series.
  if (attempt < it->second.attempt) return;
  RankSeries& s = it->second;
  s.last_line_unix_ms = unix_ms;
  Get(j, "step", s.step);
  Get(j, "total_steps", s.total_steps);
  if (event == "step") {
    s.has_step = true;
    Get(j, "ce", s.ce);
    Get(j, "mse", s.mse);
    int64_t mse_tokens = 0;
    Get(j, "mse_tokens", mse_tokens);
    s.has_mse |= mse_tokens > 0 || s.mse != 0;
    Get(j, "lr", s.lr);
    Get(j, "grad_norm", s.grad_norm);
    Get(j, "tokens_per_s", s.tokens_per_s);
    Get(j, "step_time_s", s.step_time_s);
    Get(j, "mfu", s.mfu);
    Get(j, "mem_bytes", s.mem_bytes);
    double tokens = 0;
    Get(j, "tokens", tokens);
    s.tokens_total += std::max(0.0, tokens);
    // Cumulative counts; a reason outside the data pipeline's list is folded into "other" so
    // the label stays bounded (worker/data/datasets/skip_reasons.h).
    if (auto by = j.find("data_skipped_by_reason"); by != j.end() && by->is_object()) {
      std::map<std::string, double> skipped;
      for (const auto& [reason, n] : by->items()) {
        if (n.is_number()) skipped[data::ReportedSkipReason(reason)] += n.get<double>();
      }
      for (const auto& [reason, n] : skipped) {
        s.skipped[reason] = std::max(s.skipped[reason], n);
      }
    }
  } else if (event == "eval") {
    s.has_eval = true;
    Get(j, "val_ce", s.val_ce);
    Get(j, "val_mse", s.val_mse);
  } else if (event == "checkpoint") {
    checkpoints_->Increment();
    s.checkpoint_unix_ms = unix_ms;
    s.checkpoint_step = s.step;
    Get(j, "seconds", s.checkpoint_seconds);
    Get(j, "bytes", s.checkpoint_bytes);
  }
}

void AgentMetrics::LineDropped() { dropped_->Increment(); }

void AgentMetrics::RankExited(const std::string& job_id, int32_t attempt, int32_t rank,
                              int exit_code) {
  exits_.at(metrics::ExitReason(exit_code))->Increment();
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

  auto running = EmptyFamily(kRankRunning), step = EmptyFamily(kRankStep),
       target = EmptyFamily(kRankTarget), loss = EmptyFamily(kRankLoss),
       val = EmptyFamily(kRankValLoss), lr = EmptyFamily(kRankLr),
       grad = EmptyFamily(kRankGradNorm), tokens = EmptyFamily(kRankTokens),
       tps = EmptyFamily(kRankTokensPerS), step_time = EmptyFamily(kRankStepTime),
       mfu = EmptyFamily(kRankMfu), mem = EmptyFamily(kRankMemory),
       last = EmptyFamily(kRankLastLine), ckpt_time = EmptyFamily(kRankCkptTime),
       ckpt_step = EmptyFamily(kRankCkptStep), ckpt_secs = EmptyFamily(kRankCkptSeconds),
       ckpt_bytes = EmptyFamily(kRankCkptBytes), skipped = EmptyFamily(kRankSkipped);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, s] : ranks_) {
      const std::vector<std::string> id = {key.first, std::to_string(key.second)};
      auto with = [&](const char* head) {
        return std::vector<std::string>{key.first, std::to_string(key.second), head};
      };
      AddSample(running, id, s.running ? 1 : 0, kRankRunning);
      if (s.last_line_unix_ms > 0) {
        AddSample(step, id, static_cast<double>(s.step), kRankStep);
        AddSample(last, id, s.last_line_unix_ms / 1000.0, kRankLastLine);
      }
      if (s.total_steps > 0) AddSample(target, id, static_cast<double>(s.total_steps), kRankTarget);
      if (s.has_step) {
        AddSample(loss, with("ce"), s.ce, kRankLoss);
        if (s.has_mse) AddSample(loss, with("mse"), s.mse, kRankLoss);
        AddSample(lr, id, s.lr, kRankLr);
        AddSample(grad, id, s.grad_norm, kRankGradNorm);
        AddSample(tokens, id, s.tokens_total, kRankTokens);
        AddSample(tps, id, s.tokens_per_s, kRankTokensPerS);
        AddSample(step_time, id, s.step_time_s, kRankStepTime);
        AddSample(mfu, id, s.mfu, kRankMfu);
        AddSample(mem, id, static_cast<double>(s.mem_bytes), kRankMemory);
        for (const auto& [reason, n] : s.skipped)
          AddSample(skipped, with(reason.c_str()), n, kRankSkipped);
      }
      if (s.has_eval) {
        AddSample(val, with("ce"), s.val_ce, kRankValLoss);
        if (s.has_mse) AddSample(val, with("mse"), s.val_mse, kRankValLoss);
      }
      if (s.checkpoint_unix_ms > 0) {
        AddSample(ckpt_time, id, s.checkpoint_unix_ms / 1000.0, kRankCkptTime);
        AddSample(ckpt_step, id, static_cast<double>(s.checkpoint_step), kRankCkptStep);
        AddSample(ckpt_secs, id, s.checkpoint_seconds, kRankCkptSeconds);
        AddSample(ckpt_bytes, id, static_cast<double>(s.checkpoint_bytes), kRankCkptBytes);
      }
    }
  }
  for (auto* f : {&running, &step, &target, &loss, &val, &lr, &grad, &tokens, &tps, &step_time,
                  &mfu, &mem, &skipped, &last, &ckpt_time, &ckpt_step, &ckpt_secs, &ckpt_bytes}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace bagel::agent
