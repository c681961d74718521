#include "service/metrics/training_series.h"

#include <algorithm>
#include <array>

namespace bagel::metrics {
namespace {

using prometheus::MetricType;

// One training series: the name after the prefix, the type, help text per scope, and whether it
// has a `head` label (ce / mse).
struct Series {
  const char* suffix;
  MetricType type;
  const char* job_help;
  const char* rank_help;
  bool head;
};

enum Index {
  kStep,
  kTarget,
  kLoss,
  kValLoss,
  kLr,
  kGradNorm,
  kTokensPerS,
  kTokens,
  kStepTime,
  kMfu,
  kMemory,
  kLastProgress,
  kCount
};

constexpr std::array<Series, kCount> kSeries = {{
    {"step", MetricType::Gauge,
     "Newest optimizer step reported by rank 0 (goes back after a restart from an older "
     "checkpoint).",
     "Newest step the rank reported (started or step line).", false},
    {"target_steps", MetricType::Gauge, "Steps the job trains for (train.steps).",
     "Steps the job trains for, as the rank reported it.", false},
    {"loss", MetricType::Gauge,
     "Training loss of the newest logged step, by head: ce (next-token cross-entropy, text "
     "tokens) and mse (flow-matching MSE of the generation head, Stage 2 only); the mean over "
     "micro-batches, token-weighted as the official trainer logs it.",
     "Training loss of the rank's newest step line by head: ce (next-token cross-entropy) and mse "
     "(flow-matching MSE, Stage 2); the global mean over micro-batches as the trainer logs it.",
     true},
    {"validation_loss", MetricType::Gauge,
     "Loss on the held-out eval set at the newest eval, by head (ce, mse).",
     "Loss on the held-out eval set at the rank's newest eval line, by head (ce, mse).", true},
    {"learning_rate", MetricType::Gauge, "Learning rate of the newest logged step.",
     "Learning rate of the rank's newest step line.", false},
    {"grad_norm", MetricType::Gauge,
     "Global gradient L2 norm (before clipping) of the newest logged step.",
     "Global gradient L2 norm (before clipping) of the newest step.", false},
    {"tokens_per_second", MetricType::Gauge,
     "Throughput of the newest logged step: tokens of all ranks divided by its step time.",
     "Throughput of the newest step: tokens of all ranks divided by its step time.", false},
    {"tokens_total", MetricType::Counter,
     "Tokens trained (all ranks) in the logged steps this coordinator saw; use rate() for a "
     "smoothed throughput (with train.log_every > 1 only the logged steps count).",
     "Tokens (all ranks of the job) of the logged steps this agent forwarded; rate() gives a "
     "smoothed throughput.",
     false},
    {"step_duration_seconds", MetricType::Gauge,
     "Wall time of the newest logged optimizer step (data, forward, backward, collectives, "
     "optimizer).",
     "Wall time of the newest logged optimizer step.", false},
    {"mfu_ratio", MetricType::Gauge,
     "Model FLOPs utilisation of the newest logged step, BAGEL's convention: (6 x N_dense x tokens "
     "+ 12 x head_dim x heads x layers x sum of squared sample lengths) / step time / (989e12 bf16 "
     "dense peak FLOP/s per GPU x world size); N_dense = LLM layers x (3 x hidden x intermediate + "
     "hidden x qkvo width) + 2 x vocab x hidden. 0 on CPU.",
     "Model FLOPs utilisation of the newest step (BAGEL's convention, docs/METRICS.md; 0 on CPU).",
     false},
    {"peak_memory_bytes", MetricType::Gauge,
     "Peak memory of rank 0 as the trainer reports it (mem_bytes of its step line: the training "
     "device's peak allocated bytes on a GPU, the process's peak resident memory on CPU).",
     "Peak memory the rank reported in its newest step line (mem_bytes: the training device's "
     "peak allocated bytes on a GPU, the process's peak resident memory on CPU).",
     false},
    {"last_progress_timestamp_seconds", MetricType::Gauge,
     "Unix time of rank 0's newest progress line (started or step): a stalled job stops moving "
     "it.",
     "Unix time of the rank's newest progress line: a stalled rank stops moving it.", false},
}};

// The definitions with their composed names, built once per scope (MetricDef holds pointers).
struct Catalogue {
  std::vector<std::string> names;
  std::vector<MetricDef> defs;
  explicit Catalogue(TrainingScope scope) {
    const bool job = scope == TrainingScope::kJob;
    const std::string prefix = job ? "bagel_train_" : "bagel_rank_";
    names.reserve(kSeries.size());
    for (const Series& s : kSeries) names.push_back(prefix + s.suffix);
    for (size_t i = 0; i < kSeries.size(); ++i) {
      const Series& s = kSeries[i];
      const char* labels =
          job ? (s.head ? "job_id,head" : "job_id") : (s.head ? "job_id,rank,head" : "job_id,rank");
      defs.push_back({names[i].c_str(), s.type, job ? s.job_help : s.rank_help, labels});
    }
  }
};

const Catalogue& CatalogueOf(TrainingScope scope) {
  static const Catalogue job(TrainingScope::kJob), rank(TrainingScope::kRank);
  return scope == TrainingScope::kJob ? job : rank;
}

}  // namespace

void TrainingValues::Observe(const contract::ProgressLine& line, int64_t unix_ms) {
  using Kind = contract::ProgressLine::Kind;
  if (line.kind != Kind::kStarted && line.kind != Kind::kStep && line.kind != Kind::kEval) return;
  last_line_unix_ms = unix_ms;
  step = line.step;
  if (line.total_steps > 0) total_steps = line.total_steps;
  if (line.kind == Kind::kStep) {
    has_step = true;
    ce = line.ce;
    mse = line.mse;
    has_mse |= line.mse_tokens > 0 || line.mse != 0;
    lr = line.lr;
    grad_norm = line.grad_norm;
    tokens_per_s = line.tokens_per_s;
    step_time_s = line.step_time_s;
    mfu = line.mfu;
    mem_bytes = line.mem_bytes;
    tokens_total += static_cast<double>(std::max<int64_t>(0, line.tokens));
  } else if (line.kind == Kind::kEval) {
    has_eval = true;
    val_ce = line.val_ce.value_or(0.0);
    val_mse = line.val_mse.value_or(0.0);
  }
}

const std::vector<MetricDef>& TrainingSeriesDefs(TrainingScope scope) {
  return CatalogueOf(scope).defs;
}

TrainingSeriesBuilder::TrainingSeriesBuilder(TrainingScope scope) : scope_(scope) {
  for (const MetricDef& d : CatalogueOf(scope).defs) families_.push_back(EmptyFamily(d));
}

void TrainingSeriesBuilder::Add(const std::vector<std::string>& labels, const TrainingValues& v) {
  const auto& defs = CatalogueOf(scope_).defs;
  auto add = [&](Index i, double value) { AddSample(families_[i], labels, value, defs[i]); };
  auto add_head = [&](Index i, const char* head, double value) {
    std::vector<std::string> with = labels;
    with.emplace_back(head);
    AddSample(families_[i], with, value, defs[i]);
  };
  if (v.last_line_unix_ms > 0) {
    add(kStep, static_cast<double>(v.step));
    add(kLastProgress, v.last_line_unix_ms / 1000.0);
  }
  if (v.total_steps > 0) add(kTarget, static_cast<double>(v.total_steps));
  if (v.has_step) {
    add_head(kLoss, "ce", v.ce);
    if (v.has_mse) add_head(kLoss, "mse", v.mse);
    add(kLr, v.lr);
    add(kGradNorm, v.grad_norm);
    add(kTokensPerS, v.tokens_per_s);
    add(kStepTime, v.step_time_s);
    add(kMfu, v.mfu);
    add(kMemory, v.mem_bytes);
  }
  if (v.has_step || v.tokens_total > 0) add(kTokens, v.tokens_total);
  if (v.has_eval) {
    add_head(kValLoss, "ce", v.val_ce);
    if (v.has_mse) add_head(kValLoss, "mse", v.val_mse);
  }
}

void TrainingSeriesBuilder::AppendTo(std::vector<prometheus::MetricFamily>& out, bool keep_empty) {
  for (auto& f : families_) {
    if (keep_empty || !f.metric.empty()) out.push_back(std::move(f));
  }
  families_.clear();
}

}  // namespace bagel::metrics
