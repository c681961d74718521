// The training series a bagel-train progress line feeds, described and built once for both
// daemons: per job on the coordinator (`bagel_train_<name>{job_id}`, from rank 0's lines) and per
// rank on each agent (`bagel_rank_<name>{job_id,rank}`). Same names after the prefix, same rules:
// step and target after the first line, losses and throughput after the first step line, the
// mse head only for runs with a generation loss, validation losses after the first eval line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "contract/progress_line.h"
#include "service/metrics/metric_def.h"

namespace bagel::metrics {

enum class TrainingScope { kJob, kRank };

// The newest values of one job (or rank), as its progress lines gave them.
struct TrainingValues {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t last_line_unix_ms = 0;  // 0: no line yet (no step / last-progress series)
  bool has_step = false;          // a step line arrived (losses, lr, throughput exist)
  bool has_mse = false;           // the run has a generation loss (Stage 2)
  double ce = 0, mse = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, step_time_s = 0, mfu = 0;
  double mem_bytes = 0;
  double tokens_total = 0;  // all ranks' tokens of the step lines seen
  bool has_eval = false;
  double val_ce = 0, val_mse = 0;

  // Takes in one line: started and step lines move step/total, a step line the losses and
  // throughput (its tokens add to tokens_total), an eval line the validation losses.
  void Observe(const contract::ProgressLine& line, int64_t unix_ms);
};

// Every training family of `scope` (for catalogues).
const std::vector<MetricDef>& TrainingSeriesDefs(TrainingScope scope);

// Builds the families of one scrape: Add() each job or rank, then AppendTo().
class TrainingSeriesBuilder {
 public:
  explicit TrainingSeriesBuilder(TrainingScope scope);
  // `labels`: {job_id} for kJob, {job_id, rank} for kRank.
  void Add(const std::vector<std::string>& labels, const TrainingValues& values);
  // Moves the families into `out`; families without samples only when `keep_empty`.
  void AppendTo(std::vector<prometheus::MetricFamily>& out, bool keep_empty);

 private:
  TrainingScope scope_;
  std::vector<prometheus::MetricFamily> families_;  // in TrainingSeriesDefs order
};

}  // namespace bagel::metrics
