#include "model/qwen2/rotary_embedding.h"

#include <c10/util/Exception.h>

namespace bagel {

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, double theta) {
  TORCH_CHECK(head_dim % 2 == 0, "RoPE head dim must be even, got ", head_dim);
  // Same float32 operation order as transformers' default rope init.
  at::Tensor exponents =
      at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  inv_freq_ = at::pow(theta, exponents).reciprocal();
}

RopeTables RotaryEmbedding::Tables(const at::Tensor& position_ids, at::ScalarType dtype) const {
  at::Tensor inv = inv_freq_.to(position_ids.device());
  at::Tensor angles = position_ids.to(at::kFloat).unsqueeze(1) * inv.unsqueeze(0);  // [N, d/2]
  at::Tensor emb = at::cat({angles, angles}, -1);                                   // [N, d]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

at::Tensor ApplyRotary(const at::Tensor& x, const RopeTables& rope) {
  at::Tensor cos = rope.cos.unsqueeze(1);  // [N, 1, d]
  at::Tensor sin = rope.sin.unsqueeze(1);
  return x * cos + RotateHalf(x) * sin;
}

}  // namespace bagel
