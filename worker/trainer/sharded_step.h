// One optimizer step of BAGEL training on the fully sharded engine, with the official
// semantics (BAGEL.md §2.6, §4; tests/golden/README.md "Training-step cases"): for every
// micro-batch, CE and MSE token counts summed over all ranks, each rank's loss normalised by
// them times the world size and divided by the accumulation count; gradients averaged over
// ranks and summed over micro-steps; then global grad-norm clipping, AdamW with the schedule's
// lr, and the EMA update.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/lr_schedule.h"
#include "worker/trainer/training_loss.h"

namespace bagel::train {

struct StepHyper {
  LrSchedule schedule;
  fsdp::AdamWHyper adamw;
  double max_grad_norm = 1.0;
  double ema_decay = 0.0;  // 0: no EMA
  LossWeights loss_weights;
};

struct StepReport {
  // The figures below the line are filled by Read() (Run does when asked): one host read of
  // what the step left on the device.
  void Read();
  bool read() const { return !pending_.defined(); }

  int64_t step = 0;  // 1-based number of the optimizer step just taken
  double lr = 0;
  int64_t tokens = 0;  // this rank's tokens over the micro-steps
  // ---
  std::vector<double> micro_ce;  // per micro-step, each rank's normalised CE averaged over ranks
  std::vector<double> micro_mse;
  double grad_norm = 0;       // before clipping
  int64_t global_tokens = 0;  // all ranks'
  int64_t global_ce_tokens = 0, global_mse_tokens = 0;
  double sum_sample_len_sq = 0;  // all ranks', for BAGEL's MFU numerator

 private:
  friend class ShardedStep;
  at::Tensor pending_;  // [6 per micro-step + 1] float64 on the device until Read
};

class ShardedStep {
 public:
  ShardedStep(BagelForUnifiedMultimodal& model, fsdp::FsdpEngine& engine, StepHyper hyper);

  // Runs the micro-batches of one step (this rank's, already on the engine's device) and the
  // optimizer update, with no host synchronisation from the first forward to the optimizer (on
  // a GPU: none at all unless `read`). `noise_generator` draws flow-matching noise for batches
  // without injected noise. `read`: the report's figures are read back (StepReport::Read).
  StepReport Run(const std::vector<PackedBatch>& micro_batches,
                 std::optional<at::Generator> noise_generator = std::nullopt, bool read = true);

  // Validation forward (no gradients): this rank's per-head sums and token counts are summed
  // over ranks; returns {ce mean, mse mean} over all ranks' tokens (NaN when a head is absent).
  std::pair<double, double> Evaluate(const std::vector<PackedBatch>& batches,
                                     std::optional<at::Generator> noise_generator = std::nullopt);

  int64_t steps_done() const { return steps_done_; }
  void set_steps_done(int64_t steps) { steps_done_ = steps; }
  const StepHyper& hyper() const { return hyper_; }

 private:
  BagelForUnifiedMultimodal& model_;
  fsdp::FsdpEngine& engine_;
  StepHyper hyper_;
  int64_t steps_done_ = 0;
};

}  // namespace bagel::train
