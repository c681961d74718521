// LayerNorm over the last dimension with weight and bias (SigLIP).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace bagel::nn {

class LayerNorm : public torch::nn::Module {
 public:
  LayerNorm(int64_t dim, double eps, const at::TensorOptions& options) : dim_(dim), eps_(eps) {
    weight = register_parameter("weight", at::empty({dim}, options));
    bias = register_parameter("bias", at::empty({dim}, options));
  }

  at::Tensor Forward(const at::Tensor& x) const {
    return at::layer_norm(x, {dim_}, weight, bias, eps_);
  }

  at::Tensor weight;
  at::Tensor bias;

 private:
  int64_t dim_;
  double eps_;
};

}  // namespace bagel::nn
