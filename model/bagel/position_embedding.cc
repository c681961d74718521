#include "model/bagel/position_embedding.h"

#include <c10/util/Exception.h>

namespace bagel {
namespace {

// [n] positions -> [n, d] = concat(sin(p w), cos(p w)), float64.
at::Tensor SinCos1d(const at::Tensor& positions, int64_t d) {
  at::Tensor omega = at::arange(d / 2, at::kDouble) / (d / 2.0);
  omega = 1.0 / at::pow(10000.0, omega);
  at::Tensor out = positions.to(at::kDouble).unsqueeze(1) * omega.unsqueeze(0);
  return at::cat({out.sin(), out.cos()}, 1);
}

}  // namespace

at::Tensor SinCos2dTable(int64_t grid_size, int64_t dim) {
  TORCH_CHECK(dim % 4 == 0, "sin-cos table dim must be a multiple of 4, got ", dim);
  at::Tensor idx = at::arange(grid_size * grid_size, at::kLong);
  at::Tensor col = idx.remainder(grid_size);
  at::Tensor row = idx.div(grid_size, "floor");
  return at::cat({SinCos1d(col, dim / 2), SinCos1d(row, dim / 2)}, 1).to(at::kFloat);
}

PositionEmbedding::PositionEmbedding(int64_t side, int64_t hidden, const at::TensorOptions& options)
    : side_(side), hidden_(hidden) {
  pos_embed = register_parameter("pos_embed", at::empty({side * side, hidden}, options),
                                 /*requires_grad=*/false);
  ResetTable();
}

void PositionEmbedding::ResetTable() {
  if (pos_embed.is_meta()) return;
  at::NoGradGuard no_grad;
  pos_embed.copy_(SinCos2dTable(side_, hidden_));
}

}  // namespace bagel
