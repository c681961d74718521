// FLOP counts of one training step, the two conventions of docs/BENCHMARKS.md, never mixed:
//
// ExecutedFlops: what the step really computes, 2 FLOPs per multiply-add, x3 for forward and
//   backward: every linear layer of the LLM, ViT, connector and generation heads on the tokens
//   it sees, the lm_head on the CE tokens only, attention (QK^T and AV) on each sample's and
//   image's own length.
// BagelMfuFlops: BAGEL's own MFU numerator, 6 * dense_N * tokens + 12 * head_dim * heads *
//   layers * sum(sample_len^2), dense_N = layers * (3 * hidden * intermediate + hidden *
//   (q + k + v + o sizes)) + 2 * vocab * hidden (LLM only, embedding and lm_head for every
//   token). A convention for comparability with BAGEL's logs, not executed work.
#pragma once

#include <cstdint>

#include "model/bagel/packed_batch.h"
#include "model/config/bagel_config.h"

namespace bagel {

struct FlopBreakdown {
  double llm_linear = 0, llm_attention = 0, vit = 0, connector = 0, lm_head = 0, gen_heads = 0;
  double total() const {
    return llm_linear + llm_attention + vit + connector + lm_head + gen_heads;
  }
};

// `config` must be prepared for its stage. A PackedBatch is one rank's micro-batch.
FlopBreakdown ExecutedFlops(const BagelConfig& config, const PackedBatch& batch);
double BagelMfuFlops(const BagelConfig& config, const PackedBatch& batch);
// The same from totals (all ranks, all micro-steps): tokens and the sum of squared sample lengths.
double BagelMfuFlops(const BagelConfig& config, double tokens, double sum_sample_len_sq);

}  // namespace bagel
