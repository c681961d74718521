// ViT features -> LLM width: fc2(gelu_tanh(fc1(x))).
#pragma once

#include <torch/nn/module.h>

#include "model/nn/linear.h"

namespace bagel {

class MlpConnector : public torch::nn::Module {
 public:
  MlpConnector(int64_t in_dim, int64_t out_dim, const at::TensorOptions& options) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(in_dim, out_dim, true, options));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(out_dim, out_dim, true, options));
  }
  at::Tensor Forward(const at::Tensor& x) const {
    return fc2->Forward(at::gelu(fc1->Forward(x), "tanh"));
  }

  std::shared_ptr<nn::Linear> fc1, fc2;
};

}  // namespace bagel
