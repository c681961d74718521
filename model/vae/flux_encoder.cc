#include "model/vae/flux_encoder.h"

namespace bagel::vae {

MidStage::MidStage(int64_t channels, const at::TensorOptions& options) {
  block_1 = register_module("block_1", std::make_shared<ResnetBlock>(channels, channels, options));
  attn_1 = register_module("attn_1", std::make_shared<AttnBlock>(channels, options));
  block_2 = register_module("block_2", std::make_shared<ResnetBlock>(channels, channels, options));
}

at::Tensor MidStage::Forward(const at::Tensor& x) const {
  return block_2->Forward(attn_1->Forward(block_1->Forward(x)));
}

FluxEncoder::FluxEncoder(const FluxVaeParams& p, const at::TensorOptions& options) {
  p.Validate();
  conv_in =
      register_module("conv_in", std::make_shared<Conv2d>(p.in_channels, p.ch, 3, 1, 1, options));
  down = register_module("down", torch::nn::ModuleList());
  const int64_t num_levels = static_cast<int64_t>(p.ch_mult.size());
  int64_t block_in = p.ch;
  for (int64_t i = 0; i < num_levels; ++i) {
    auto level = std::make_shared<EncoderLevel>();
    level->block = level->register_module("block", torch::nn::ModuleList());
    block_in = p.ch * (i == 0 ? 1 : p.ch_mult[i - 1]);
    const int64_t block_out = p.ch * p.ch_mult[i];
    for (int64_t j = 0; j < p.num_res_blocks; ++j) {
      auto b = std::make_shared<ResnetBlock>(block_in, block_out, options);
      level->block->push_back(b);
      level->blocks.push_back(b);
      block_in = block_out;
    }
    if (i != num_levels - 1) {
      level->downsample =
          level->register_module("downsample", std::make_shared<Downsample>(block_in, options));
    }
    down->push_back(level);
    levels_.push_back(level);
  }
  mid = register_module("mid", std::make_shared<MidStage>(block_in, options));
  norm_out = register_module("norm_out", std::make_shared<GroupNorm>(block_in, options));
  conv_out = register_module(
      "conv_out", std::make_shared<Conv2d>(block_in, 2 * p.z_channels, 3, 1, 1, options));
}

at::Tensor FluxEncoder::Forward(const at::Tensor& images) const {
  at::Tensor h = conv_in->Forward(images);
  for (const auto& level : levels_) {
    for (const auto& b : level->blocks) h = b->Forward(h);
    if (level->downsample) h = level->downsample->Forward(h);
  }
  h = mid->Forward(h);
  return conv_out->Forward(Swish(norm_out->Forward(h)));
}

}  // namespace bagel::vae
