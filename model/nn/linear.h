// y = x W^T + b. Parameters are allocated uninitialised (on any device, meta included);
// initialisation is the owner's job (BagelForUnifiedMultimodal::InitializeWeights or a load).
// The input is cast to the weight's dtype first, as bf16 autocast does for matmuls: a float32
// activation (a latent, a norm's output) meets bf16 weights in a bf16 GEMM, which accumulates
// in float32 and returns bf16.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace bagel::nn {

class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, const at::TensorOptions& options)
      : in_features_(in_features), out_features_(out_features) {
    weight = register_parameter("weight", at::empty({out_features, in_features}, options));
    if (bias) this->bias = register_parameter("bias", at::empty({out_features}, options));
  }

  // x: [..., in] -> [..., out]
  at::Tensor Forward(const at::Tensor& x) const {
    return at::linear(x.scalar_type() == weight.scalar_type() ? x : x.to(weight.scalar_type()),
                      weight, bias);
  }

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined

 private:
  int64_t in_features_;
  int64_t out_features_;
};

}  // namespace bagel::nn
