// The optimizer side of a training step as one pass over each trainable shard: torch.optim.
// AdamW's update (the single-tensor algorithm, operation for operation in float32), the
// gradient scaled by the clipping coefficient, the EMA and the compute-dtype copy of the new
// weights (the next step's first gradient reduction overwrites the gradient, so it is never
// zeroed in a pass of its own). The single-tensor PyTorch path costs about
// ten passes over memory with temporaries (sqrt, division), the EMA three more and clipping two:
// on a CPU rank the optimizer took ~1.7 s of a 4 s small-config step.
//
// CPU shards run this file's kernel (parallel over the shard). CUDA shards run ATen's fused
// multi-tensor AdamW (`_fused_adamw_`, one launch for all shards, the clipping folded in as its
// grad_scale, so no host read of the norm) and foreach kernels for the EMA and the copy.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace bagel::fsdp {

struct AdamWHyper {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-15, weight_decay = 0.0;
};

// One shard's tensors (float32, same length; `compute` may be another dtype or undefined, `ema`
// undefined when there is none).
struct OptimizerShard {
  at::Tensor param, grad, exp_avg, exp_avg_sq, ema, compute;
};

struct StepScalars {
  double lr = 0;
  int64_t step = 1;      // 1-based
  double ema_decay = 0;  // 0: no EMA
};

// Sum of squares of `grads` as a float32 scalar on their device, accumulated in double per
// shard on a CPU (no float64 copy of a gradient).
at::Tensor SumOfSquares(const std::vector<at::Tensor>& grads);

// min(1, max_norm / (norm + 1e-6)) as the official clip_grad_norm_ computes it (max_norm <= 0:
// 1), a float32 scalar on norm's device.
at::Tensor ClipCoefficient(const at::Tensor& norm, double max_norm);

// The update of every shard (all on one device); `clip` multiplies the gradients.
void AdamWEmaStep(std::vector<OptimizerShard>& shards, const AdamWHyper& hyper,
                  const StepScalars& scalars, const at::Tensor& clip);

}  // namespace bagel::fsdp
