// Training in one process on one device: the loop of the official trainer (BAGEL.md §4) --
// forward, token-normalised loss, backward, global grad-norm clipping, AdamW, schedule -- for
// the demo job and small runs. The sharded multi-rank trainer builds on the same pieces.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "worker/trainer/lr_schedule.h"
#include "worker/trainer/training_loss.h"

namespace bagel::train {

struct LocalTrainingOptions {
  std::string init_from;        // HF-layout checkpoint directory ("" = random init of `preset`)
  std::string preset = "tiny";  // for random init
  int stage = 1;
  int64_t steps = 100;
  LrSchedule schedule;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-15, weight_decay = 0.0;
  double max_grad_norm = 1.0;
  LossWeights loss_weights;
  int64_t expected_num_tokens = 256;
  uint64_t seed = 4396;
  int64_t log_every = 10;
  std::string out;  // export the final weights here as an HF-layout checkpoint ("" = none)
};

struct StepRecord {
  int64_t step = 0;
  double ce = 0, mse = 0, lr = 0, grad_norm = 0, tokens_per_s = 0;
  int64_t tokens = 0;
};

// Runs the loop; `on_step` sees every step (progress output). Returns every step's record.
std::vector<StepRecord> RunLocalTraining(const LocalTrainingOptions& options,
                                         const std::function<void(const StepRecord&)>& on_step);

}  // namespace bagel::train
