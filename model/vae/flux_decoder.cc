#include "model/vae/flux_decoder.h"

namespace bagel::vae {

FluxDecoder::FluxDecoder(const FluxVaeParams& p, const at::TensorOptions& options) {
  p.Validate();
  const int64_t num_levels = static_cast<int64_t>(p.ch_mult.size());
  int64_t block_in = p.ch * p.ch_mult.back();
  conv_in = register_module("conv_in",
                            std::make_shared<Conv2d>(p.z_channels, block_in, 3, 1, 1, options));
  mid = register_module("mid", std::make_shared<MidStage>(block_in, options));
  // Built from the deepest level up, registered in level order (up.0 first) as the checkpoint
  // names them.
  levels_.resize(num_levels);
  for (int64_t i = num_levels - 1; i >= 0; --i) {
    auto level = std::make_shared<DecoderLevel>();
    level->block = level->register_module("block", torch::nn::ModuleList());
    const int64_t block_out = p.ch * p.ch_mult[i];
    for (int64_t j = 0; j <= p.num_res_blocks; ++j) {
      auto b = std::make_shared<ResnetBlock>(block_in, block_out, options);
      level->block->push_back(b);
      level->blocks.push_back(b);
      block_in = block_out;
    }
    if (i != 0) {
      level->upsample =
          level->register_module("upsample", std::make_shared<Upsample>(block_in, options));
    }
    levels_[i] = level;
  }
  up = register_module("up", torch::nn::ModuleList());
  for (const auto& level : levels_) up->push_back(level);
  norm_out = register_module("norm_out", std::make_shared<GroupNorm>(block_in, options));
  conv_out = register_module("conv_out",
                             std::make_shared<Conv2d>(block_in, p.out_channels, 3, 1, 1, options));
}

at::Tensor FluxDecoder::Forward(const at::Tensor& z) const {
  at::Tensor h = mid->Forward(conv_in->Forward(z));
  for (auto it = levels_.rbegin(); it != levels_.rend(); ++it) {
    for (const auto& b : (*it)->blocks) h = b->Forward(h);
    if ((*it)->upsample) h = (*it)->upsample->Forward(h);
  }
  return conv_out->Forward(Swish(norm_out->Forward(h)));
}

}  // namespace bagel::vae
