// The two parameterised layers the FLUX autoencoder is built from, named as torch.nn names their
// parameters (weight, bias): a 2-D convolution and a 32-group GroupNorm (eps 1e-6, affine).
// Parameters are allocated uninitialised; FluxVae::Load or InitializeRandomForTest fills them.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace bagel::vae {

class Conv2d : public torch::nn::Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
         const at::TensorOptions& options)
      : stride_(stride), padding_(padding) {
    weight = register_parameter("weight",
                                at::empty({out_channels, in_channels, kernel, kernel}, options));
    bias = register_parameter("bias", at::empty({out_channels}, options));
  }

  // x: [B, in, H, W] -> [B, out, H', W'], computed in the weight's dtype (the input is cast, as
  // bf16 autocast casts a convolution's inputs).
  at::Tensor Forward(const at::Tensor& x) const {
    return at::conv2d(x.scalar_type() == weight.scalar_type() ? x : x.to(weight.scalar_type()),
                      weight, bias, {stride_, stride_}, {padding_, padding_});
  }

  at::Tensor weight;  // [out, in, k, k]
  at::Tensor bias;    // [out]

 private:
  int64_t stride_, padding_;
};

class GroupNorm : public torch::nn::Module {
 public:
  static constexpr int64_t kGroups = 32;
  static constexpr double kEps = 1e-6;

  GroupNorm(int64_t channels, const at::TensorOptions& options) {
    TORCH_CHECK(channels % kGroups == 0, "VAE GroupNorm: ", channels,
                " channels are not divisible into ", kGroups, " groups");
    weight = register_parameter("weight", at::empty({channels}, options));
    bias = register_parameter("bias", at::empty({channels}, options));
  }

  // Always float32 (input, parameters and result), as bf16 autocast runs group_norm; the
  // parameters stay float32 when the convolutions are bf16 (FluxVae::UseComputeDtype).
  at::Tensor Forward(const at::Tensor& x) const {
    return at::group_norm(x.to(at::kFloat), kGroups, weight.to(at::kFloat), bias.to(at::kFloat),
                          kEps);
  }

  at::Tensor weight;  // [C]
  at::Tensor bias;    // [C]
};

// x * sigmoid(x), the autoencoder's activation.
inline at::Tensor Swish(const at::Tensor& x) { return x * at::sigmoid(x); }

}  // namespace bagel::vae
