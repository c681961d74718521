// Attention over a packed sequence, honouring an AttentionLayout without ever building a mask
// for the whole sequence.
//
// Split-wise decomposition: the queries of split j see (a) every earlier non-noise token of
// their sample and (b) their own split, causally (bottom-right aligned: all of (a), then a
// triangle) for causal splits, fully otherwise. So each split is one scaled-dot-product call
// over a key range that is usually a contiguous slice: no mask at all for full/noise splits
// and for a sample's first causal split, a small [s, prefix + s] mask for later causal splits.
// Samples given as dense masks run one call per sample with that mask.
//
// On CUDA in fp16/bf16 the same rule runs as varlen flash attention through a per-batch plan
// (varlen_attention_plan.h): at most two kernel calls per layer, whatever the packing.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "model/attention/attention_layout.h"

namespace bagel {

// q: [N, Hq, d]; k, v: [N, Hkv, d] with Hq a multiple of Hkv (GQA: query head h uses key head
// h / (Hq / Hkv)). Returns [N, Hq, d]. `scale` multiplies q.k (1/sqrt(d) for BAGEL).
at::Tensor PackedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionLayout& layout, double scale);

// Which implementation PackedAttention runs (docs/PERFORMANCE.md, "Attention"):
//   kAuto       varlen flash attention where it can run (CUDA, fp16/bf16, head size a multiple
//               of 8 up to 256, split layouts), else one SDPA call per split;
//   kSplitSdpa  one SDPA call per split everywhere;
//   kVarlen     the varlen plan everywhere: flash where it can run, else its reference kernel
//               (how the CPU tests run the plan through the whole model).
// Dense-mask layouts always take the per-sample SDPA path.
enum class AttentionPath { kAuto, kSplitSdpa, kVarlen };

// Process-wide; starts from BAGEL_ATTENTION (auto | split | varlen; unset: auto), throwing on
// another value.
void SetAttentionPath(AttentionPath path);
AttentionPath GetAttentionPath();
AttentionPath AttentionPathFromName(const std::string& name);

// What PackedAttention runs on split layouts for these inputs: "flash-varlen",
// "varlen-reference" or "sdpa-split" (benchmarks print it).
std::string AttentionKernelName(const at::Device& device, at::ScalarType dtype, int64_t head_dim);

// Reference attention with an explicit [N, N] boolean mask (true = attend), softmax in float32;
// for tests only (it materialises the whole mask).
at::Tensor DenseReferenceAttentionForTest(const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, const at::Tensor& allowed,
                                          double scale);

}  // namespace bagel
