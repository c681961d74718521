// Qwen2RMSNorm: y = w * (x_fp32 * rsqrt(mean(x^2) + eps)).to(x.dtype). The normalisation runs
// in float32 and the weight multiplies in the input dtype, exactly as the official module.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace bagel::nn {

class RmsNorm : public torch::nn::Module {
 public:
  RmsNorm(int64_t dim, double eps, const at::TensorOptions& options) : eps_(eps) {
    weight = register_parameter("weight", at::empty({dim}, options));
  }

  at::Tensor Forward(const at::Tensor& x) const {
    const auto dtype = x.scalar_type();
    at::Tensor x32 = x.to(at::kFloat);
    at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps_);
    return weight * normed.to(dtype);
  }

  double eps() const { return eps_; }
  at::Tensor weight;  // [dim]

 private:
  double eps_;
};

}  // namespace bagel::nn
