// The FLUX autoencoder's decoder (BAGEL.md §1.4): conv_in from z_channels to the widest level,
// the middle res/attention/res stage, then the levels from the last to the first, each with
// num_res_blocks + 1 ResnetBlocks and (except level 0) a nearest x2 Upsample, then GroupNorm +
// swish and conv_out. Module names follow the checkpoint: up.<i>.block.<j>, up.<i>.upsample.conv
// (up.<i> is level i, run in reverse order).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/vae/flux_encoder.h"

namespace bagel::vae {

class DecoderLevel : public torch::nn::Module {
 public:
  torch::nn::ModuleList block;
  std::vector<std::shared_ptr<ResnetBlock>> blocks;
  std::shared_ptr<Upsample> upsample;  // null for level 0
};

class FluxDecoder : public torch::nn::Module {
 public:
  FluxDecoder(const FluxVaeParams& params, const at::TensorOptions& options);
  // z [B, z_channels, h, w] (unscaled latent) -> [B, out_channels, 8 h, 8 w]
  at::Tensor Forward(const at::Tensor& z) const;

  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::shared_ptr<MidStage> mid;
  torch::nn::ModuleList up;
  std::shared_ptr<GroupNorm> norm_out;

 private:
  std::vector<std::shared_ptr<DecoderLevel>> levels_;  // index = level
};

}  // namespace bagel::vae
