// BAGEL's frozen 2-D sin-cos position tables (vit_pos_embed, latent_pos_embed), BAGEL.md §1.4:
// row r*S + c of the [S*S, D] table is concat(E(c, D/2), E(r, D/2)) -- the first half encodes
// the column -- with E(p, d) = concat(sin(p w), cos(p w)), w_k = 1 / 10000^(k / (d/2)).
// Computed in float64 and stored as float32, like the official numpy code.
#pragma once

#include <torch/nn/module.h>

namespace bagel {

// The [grid_size^2, dim] float32 table on the CPU. dim must be a multiple of 4.
at::Tensor SinCos2dTable(int64_t grid_size, int64_t dim);

class PositionEmbedding : public torch::nn::Module {
 public:
  PositionEmbedding(int64_t max_num_patch_per_side, int64_t hidden,
                    const at::TensorOptions& options);

  // position_ids [n] -> [n, hidden]
  at::Tensor Forward(const at::Tensor& position_ids) const {
    return pos_embed.index_select(0, position_ids);
  }
  // Refills pos_embed with the table (after a load, or on a new device).
  void ResetTable();

  at::Tensor pos_embed;  // [S*S, hidden], requires_grad = false

 private:
  int64_t side_, hidden_;
};

}  // namespace bagel
