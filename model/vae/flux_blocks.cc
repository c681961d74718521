#include "model/vae/flux_blocks.h"

#include <cmath>

namespace bagel::vae {

ResnetBlock::ResnetBlock(int64_t in_channels, int64_t out_channels,
                         const at::TensorOptions& options) {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(in_channels, options));
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(in_channels, out_channels, 3, 1, 1, options));
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(out_channels, options));
  conv2 = register_module("conv2",
                          std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1, options));
  if (in_channels != out_channels) {
    nin_shortcut = register_module(
        "nin_shortcut", std::make_shared<Conv2d>(in_channels, out_channels, 1, 1, 0, options));
  }
}

at::Tensor ResnetBlock::Forward(const at::Tensor& x) const {
  at::Tensor h = conv1->Forward(Swish(norm1->Forward(x)));
  h = conv2->Forward(Swish(norm2->Forward(h)));
  return (nin_shortcut ? nin_shortcut->Forward(x) : x) + h;
}

AttnBlock::AttnBlock(int64_t channels, const at::TensorOptions& options) {
  norm = register_module("norm", std::make_shared<GroupNorm>(channels, options));
  auto conv = [&](const char* name) {
    return register_module(name, std::make_shared<Conv2d>(channels, channels, 1, 1, 0, options));
  };
  q = conv("q");
  k = conv("k");
  v = conv("v");
  proj_out = conv("proj_out");
}

at::Tensor AttnBlock::Forward(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor n = norm->Forward(x);
  // [B, C, H, W] -> [B, 1, H*W, C]: one head whose features are the channels.
  auto tokens = [&](const at::Tensor& t) {
    return t.reshape({b, 1, c, h * w}).transpose(2, 3).contiguous();
  };
  at::Tensor a = at::scaled_dot_product_attention(tokens(q->Forward(n)), tokens(k->Forward(n)),
                                                  tokens(v->Forward(n)));
  a = a.transpose(2, 3).reshape({b, c, h, w});  // back to [B, C, H, W]
  return x + proj_out->Forward(a);
}

Downsample::Downsample(int64_t channels, const at::TensorOptions& options) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 2, 0, options));
}

at::Tensor Downsample::Forward(const at::Tensor& x) const {
  // torch convolutions pad symmetrically; the FLUX encoder pads only right and bottom.
  return conv->Forward(at::constant_pad_nd(x, {0, 1, 0, 1}, 0.0));
}

Upsample::Upsample(int64_t channels, const at::TensorOptions& options) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 1, 1, options));
}

at::Tensor Upsample::Forward(const at::Tensor& x) const {
  at::Tensor up = at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)}, 2.0, 2.0);
  return conv->Forward(up);
}

}  // namespace bagel::vae
