// DiT-style timestep embedding (BAGEL.md §1.4): t in [0, 1] (not scaled by 1000) ->
// [cos(t f), sin(t f)] with f_k = exp(-ln(10000) k / 128), 256-d, then Linear -> SiLU -> Linear.
// Parameters are named mlp.0.* and mlp.2.* as in the official nn.Sequential.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/nn/linear.h"

namespace bagel {

// t [n] -> [n, dim] sinusoidal features, cos half first, float32.
at::Tensor TimestepFrequencyEmbedding(const at::Tensor& t, int64_t dim);

class TimestepEmbedder : public torch::nn::Module {
 public:
  static constexpr int64_t kFrequencyDim = 256;

  TimestepEmbedder(int64_t hidden, const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& t) const;  // [n] -> [n, hidden]

  torch::nn::ModuleList mlp;  // 0: Linear(256, H), 1: SiLU (no parameters), 2: Linear(H, H)
  std::shared_ptr<nn::Linear> fc_in, fc_out;
};

}  // namespace bagel
