// Per-token cross-entropy of a linear head, ce_i = logsumexp(W h_i) - (W h_i)[y_i], computed
// in row chunks so the [tokens, vocab] logits never exist whole (BAGEL's lm_head has 152k rows;
// BENCH.md's small config spends over half its FLOPs here).
//
// When gradients are needed, each chunk's softmax-minus-one-hot G is consumed while it is hot:
// D = G W (for dh) and E = G^T h (for dW) are accumulated in the forward pass. The backward then
// only scales them: dh = g[:, None] * D, and dW = g0 * E when the upstream gradient g is the
// same for every token (true for sum and mean losses, and for BAGEL's token-normalised CE); for
// any other g it recomputes the chunks exactly. Labels equal to ignore_index give ce 0 and no
// gradient, as F.cross_entropy. Results equal F.cross_entropy(h @ W^T, y, reduction='none')
// up to float rounding.
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace bagel {

struct FusedCrossEntropyOptions {
  int64_t ignore_index = -100;
  // Rows per chunk; 0 picks a size keeping a chunk's logits near 64 MB.
  int64_t chunk_rows = 0;
  // Facts the caller knows on the host, so that nothing reads the device to find them (each
  // read stalls the host behind a GPU): every label is a valid class (unset: checked on the
  // device, which also refuses labels out of range), and the upstream gradient will be the same
  // for every token (a sum or mean loss; unset: checked in backward).
  std::optional<bool> labels_all_valid;
  bool uniform_gradient = false;
};

// hidden [M, H], weight [V, H], labels [M] int64 -> ce [M] (float32 for float32/bf16 inputs).
at::Tensor FusedLinearCrossEntropy(const at::Tensor& hidden, const at::Tensor& weight,
                                   const at::Tensor& labels,
                                   const FusedCrossEntropyOptions& options = {});

}  // namespace bagel
