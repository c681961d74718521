// SwiGLU feed-forward: down(silu(gate(x)) * up(x)), no biases.
#pragma once

#include <torch/nn/module.h>

#include "model/config/bagel_config.h"
#include "model/nn/linear.h"

namespace bagel {

class Qwen2Mlp : public torch::nn::Module {
 public:
  Qwen2Mlp(const LlmConfig& config, const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& x) const;  // [N, hidden] -> [N, hidden]

  std::shared_ptr<nn::Linear> gate_proj, up_proj, down_proj;
};

}  // namespace bagel
