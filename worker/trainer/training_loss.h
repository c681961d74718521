// The training loss of one rank's micro-batch, normalised as the official trainer does
// (BAGEL.md §2.6): token counts summed over all ranks for the step, so that
//   ce  = sum(per-token CE) * W / (all ranks' CE tokens)
//   mse = sum(per-token mean-over-channels MSE) * W / (all ranks' MSE tokens)
//   loss = (ce_weight * ce + mse_weight * mse) / grad_accum
// The x W cancels the averaging of gradients over ranks. A head with no tokens anywhere
// contributes zero (the official code would crash on such micro-batches).
#pragma once

#include <ATen/ATen.h>

#include "model/bagel/bagel_for_unified_multimodal.h"

namespace bagel::train {

struct LossWeights {
  double ce = 1.0;
  double mse = 1.0;
};

struct MicroStepLoss {
  at::Tensor loss;        // scalar to backpropagate
  at::Tensor logged;      // [2] float64: this rank's normalised CE and MSE (the logged values)
  int64_t ce_tokens = 0;  // this rank's
  int64_t mse_tokens = 0;
};

// `global_tokens`: the all-ranks CE and MSE token counts ([2] float64 on the loss's device, as
// an all-reduce leaves them): read on the device, never on the host, so the step needs no host
// synchronisation for them.
MicroStepLoss TokenNormalizedLoss(const ForwardOutputs& out, const at::Tensor& global_tokens,
                                  int world_size, const LossWeights& weights, int grad_accum);

}  // namespace bagel::train
