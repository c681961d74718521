// The building blocks of the FLUX autoencoder (BAGEL.md §1.4), with the official parameter
// names: ResnetBlock (norm1, conv1, norm2, conv2, nin_shortcut when the width changes),
// AttnBlock (single-head self-attention over all pixels: norm, q, k, v, proj_out as 1x1 convs),
// Downsample (pad right/bottom by one, 3x3 stride-2 conv) and Upsample (nearest x2, 3x3 conv).
#pragma once

#include <torch/nn/module.h>

#include "model/vae/vae_layers.h"

namespace bagel::vae {

class ResnetBlock : public torch::nn::Module {
 public:
  ResnetBlock(int64_t in_channels, int64_t out_channels, const at::TensorOptions& options);
  // [B, in, H, W] -> [B, out, H, W]
  at::Tensor Forward(const at::Tensor& x) const;

  std::shared_ptr<GroupNorm> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Conv2d> nin_shortcut;  // null when in == out
};

class AttnBlock : public torch::nn::Module {
 public:
  AttnBlock(int64_t channels, const at::TensorOptions& options);
  // x + proj_out(attention(norm(x))), [B, C, H, W] -> same
  at::Tensor Forward(const at::Tensor& x) const;

  std::shared_ptr<GroupNorm> norm;
  std::shared_ptr<Conv2d> q, k, v, proj_out;
};

class Downsample : public torch::nn::Module {
 public:
  Downsample(int64_t channels, const at::TensorOptions& options);
  // [B, C, H, W] -> [B, C, floor((H - 2) / 2) + 1, ...] (H/2 for even H)
  at::Tensor Forward(const at::Tensor& x) const;

  std::shared_ptr<Conv2d> conv;
};

class Upsample : public torch::nn::Module {
 public:
  Upsample(int64_t channels, const at::TensorOptions& options);
  // [B, C, H, W] -> [B, C, 2H, 2W]
  at::Tensor Forward(const at::Tensor& x) const;

  std::shared_ptr<Conv2d> conv;
};

}  // namespace bagel::vae
