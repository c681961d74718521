// The FLUX autoencoder's encoder (BAGEL.md §1.4): conv_in, one level per ch_mult entry with
// num_res_blocks ResnetBlocks (a Downsample after every level but the last), a middle
// res/attention/res stage, GroupNorm + swish and conv_out to 2 * z_channels moments (the
// posterior's mean and log-variance). Module names follow the checkpoint:
// down.<i>.block.<j>, down.<i>.downsample.conv, mid.{block_1, attn_1, block_2}.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/vae/flux_blocks.h"
#include "model/vae/flux_vae_params.h"

namespace bagel::vae {

// mid.{block_1, attn_1, block_2}, shared by the encoder and the decoder.
class MidStage : public torch::nn::Module {
 public:
  MidStage(int64_t channels, const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& x) const;

  std::shared_ptr<ResnetBlock> block_1, block_2;
  std::shared_ptr<AttnBlock> attn_1;
};

class EncoderLevel : public torch::nn::Module {
 public:
  torch::nn::ModuleList block;
  std::vector<std::shared_ptr<ResnetBlock>> blocks;
  std::shared_ptr<Downsample> downsample;  // null for the last level
};

class FluxEncoder : public torch::nn::Module {
 public:
  FluxEncoder(const FluxVaeParams& params, const at::TensorOptions& options);
  // images [B, in_channels, H, W] -> moments [B, 2 z, ceil(H / 8), ceil(W / 8)]
  at::Tensor Forward(const at::Tensor& images) const;

  std::shared_ptr<Conv2d> conv_in, conv_out;
  torch::nn::ModuleList down;
  std::shared_ptr<MidStage> mid;
  std::shared_ptr<GroupNorm> norm_out;

 private:
  std::vector<std::shared_ptr<EncoderLevel>> levels_;
};

}  // namespace bagel::vae
