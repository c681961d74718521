// LayerNorm over the last dimension with weight and bias (SigLIP). Computed in float32 whatever
// the input, as bf16 autocast runs layer_norm; the result comes back in the input's dtype,
// which is what autocast's float32 output becomes in the linear that always reads it next.
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
    if (x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat) {
      return at::layer_norm(x, {dim_}, weight, bias, eps_);
    }
    return at::layer_norm(x.to(at::kFloat), {dim_}, weight.to(at::kFloat), bias.to(at::kFloat),
                          eps_)
        .to(x.scalar_type());
  }

  at::Tensor weight;
  at::Tensor bias;

 private:
  int64_t dim_;
  double eps_;
};

}  // namespace bagel::nn
