#include "model/qwen2/qwen2_mlp.h"

namespace bagel {

Qwen2Mlp::Qwen2Mlp(const LlmConfig& c, const at::TensorOptions& options) {
  gate_proj = register_module("gate_proj", std::make_shared<nn::Linear>(
                                               c.hidden_size, c.intermediate_size, false, options));
  up_proj = register_module(
      "up_proj", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size, false, options));
  down_proj = register_module("down_proj", std::make_shared<nn::Linear>(
                                               c.intermediate_size, c.hidden_size, false, options));
}

at::Tensor Qwen2Mlp::Forward(const at::Tensor& x) const {
  return down_proj->Forward(at::silu(gate_proj->Forward(x)) * up_proj->Forward(x));
}

}  // namespace bagel
