// Rotary position embedding, Qwen2's "rotate half" (non-interleaved) convention:
// inv_freq = 1 / theta^(arange(0, d, 2) / d), angles = position * inv_freq, cos/sin =
// cat(angles, angles), computed in float32 and cast to the activation dtype.
#pragma once

#include <ATen/ATen.h>

#include <utility>

namespace bagel {

struct RopeTables {
  at::Tensor cos;  // [N, head_dim]
  at::Tensor sin;  // [N, head_dim]
};

class RotaryEmbedding {
 public:
  RotaryEmbedding(int64_t head_dim, double theta);

  // position_ids: [N] int64 (any device) -> tables in `dtype` on that device.
  RopeTables Tables(const at::Tensor& position_ids, at::ScalarType dtype) const;

  const at::Tensor& inv_freq() const { return inv_freq_; }

 private:
  at::Tensor inv_freq_;  // [head_dim / 2] float32, CPU
};

// x: [N, heads, d]; tables [N, d]. Returns x * cos + rotate_half(x) * sin.
at::Tensor ApplyRotary(const at::Tensor& x, const RopeTables& rope);

// [x1, x2] -> [-x2, x1] over the last dimension.
at::Tensor RotateHalf(const at::Tensor& x);

}  // namespace bagel
