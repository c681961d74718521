// Attention over a packed sequence, honouring an AttentionLayout without ever building a mask
// for the whole sequence.
//
// Split-wise decomposition: the queries of split j see (a) every earlier non-noise token of
// their sample and (b) their own split, causally (bottom-right aligned: all of (a), then a
// triangle) for causal splits, fully otherwise. So each split is one scaled-dot-product call
// over a key range that is usually a contiguous slice: no mask at all for full/noise splits
// and for a sample's first causal split, a small [s, prefix + s] mask for later causal splits.
// Samples given as dense masks run one call per sample with that mask.
#pragma once

#include <ATen/ATen.h>

#include "model/attention/attention_layout.h"

namespace bagel {

// q: [N, Hq, d]; k, v: [N, Hkv, d] with Hq a multiple of Hkv (GQA: query head h uses key head
// h / (Hq / Hkv)). Returns [N, Hq, d]. `scale` multiplies q.k (1/sqrt(d) for BAGEL).
at::Tensor PackedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionLayout& layout, double scale);

// Reference attention with an explicit [N, N] boolean mask (true = attend), softmax in float32;
// for tests only (it materialises the whole mask).
at::Tensor DenseReferenceAttentionForTest(const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, const at::Tensor& allowed,
                                          double scale);

}  // namespace bagel
