// y = x W^T + b. Parameters are allocated uninitialised (on any device, meta included);
// initialisation is the owner's job (BagelForUnifiedMultimodal::InitializeWeights or a load).
// The input is cast to the weight's dtype first, as bf16 autocast does for matmuls: a float32
// activation (a latent, a norm's output) meets bf16 weights in a bf16 GEMM, which accumulates
// in float32 and returns bf16.
//
// A LoRA adapter (Hu et al. 2021, PEFT's layout) adds (alpha / r) * B A x with A [r, in] and
// B [out, r]: registered as the parameters lora_A and lora_B once AddLoraAdapter is called.
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
    const at::Tensor in = x.scalar_type() == weight.scalar_type() ? x : x.to(weight.scalar_type());
    at::Tensor y = at::linear(in, weight, bias);
    if (!lora_A.defined()) return y;
    // Dropout in training mode only, as PEFT's module.train() / eval() decide (an activation-
    // checkpointed layer replays the same draws: worker/fsdp/activation_checkpoint.cc).
    const at::Tensor dropped =
        lora_dropout_ > 0 && is_training() ? at::dropout(in, lora_dropout_, /*train=*/true) : in;
    return y.add(at::linear(at::linear(dropped, lora_A), lora_B), lora_scale_);
  }

  // Adds lora_A ([rank, in]) and lora_B ([out, rank]) beside the weight, uninitialised like it
  // (on its device and dtype; the trainer fills them: A random, B zero).
  void AddLoraAdapter(int64_t rank, double alpha, double dropout) {
    const auto options = weight.options().requires_grad(false);
    lora_A = register_parameter("lora_A", at::empty({rank, in_features_}, options));
    lora_B = register_parameter("lora_B", at::empty({out_features_, rank}, options));
    lora_scale_ = alpha / static_cast<double>(rank);
    lora_dropout_ = dropout;
  }
  bool has_lora() const { return lora_A.defined(); }
  double lora_scale() const { return lora_scale_; }

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor lora_A;  // [r, in] or undefined
  at::Tensor lora_B;  // [out, r] or undefined

 private:
  int64_t in_features_;
  int64_t out_features_;
  double lora_scale_ = 0;
  double lora_dropout_ = 0;
};

}  // namespace bagel::nn
