// Packed attention as varlen attention (issue 16; docs/PERFORMANCE.md, "Attention"): a plan,
// built once per batch and shared by every layer, that turns any split layout into at most two
// calls of a varlen kernel -- one for the causal splits, one for the full and noise splits --
// whatever the number of samples and splits.
//
// Every split is one varlen segment (BAGEL.md §2.4): its queries are the split's tokens; its keys
// are the visible earlier splits of its sample (every earlier non-noise split) followed by the
// split itself. A causal split is then bottom-right causal over its keys (all of the prefix, then
// a triangle), which is what flash attention's varlen causal mode computes when a segment has more
// keys than queries; a full or noise split sees all its keys. Each group gathers its queries and
// keys with one index each (skipped when the index is the identity), the kernel runs on the
// gathered tensors with cumulative lengths, and one inverse index puts the outputs back in
// sequence order. GQA needs no repeated K/V: the kernel takes [T, Hkv, d] keys.
//
// Kernels: flash attention's `at::_flash_attention_forward` (CUDA, fp16/bf16, head size a
// multiple of 8 up to 256; its backward through autograd), and a reference kernel (SDPA per
// segment with the bottom-right mask) that runs the same plan on any device, for the CPU tests.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "model/attention/attention_layout.h"

namespace bagel {

struct VarlenGroup {
  bool causal = false;
  // On the plan's device: token positions of the group's queries and of its gathered keys
  // (int64), cumulative query and key lengths per segment (int32, [segments + 1]).
  at::Tensor q_index, k_index, cu_q, cu_k;
  // The same lengths on the host (the reference kernel's loop; max_q / max_k for flash).
  std::vector<int64_t> cu_q_host, cu_k_host;
  int64_t max_q = 0, max_k = 0;
  bool q_identity = false;  // q_index is 0..N-1: the queries need no gather
  bool k_identity = false;  // k_index is 0..N-1: the keys need no gather
};

struct VarlenAttentionPlan {
  int64_t num_tokens = 0;
  int64_t num_segments = 0;
  at::Device device = at::kCPU;
  std::vector<VarlenGroup> groups;  // the causal group first, when there is one
  // Position of token t in the concatenated group outputs; undefined when that is t itself.
  at::Tensor inverse;
};

// The plan of a split layout (no dense masks) with its indices on `device`: every index and
// length goes to the device in one host-to-device copy.
VarlenAttentionPlan BuildVarlenAttentionPlan(const AttentionLayout& layout,
                                             const at::Device& device);

enum class VarlenKernel { kFlash, kReference };

// q [N, Hq, d], k, v [N, Hkv, d] -> [N, Hq, d], through `plan` and `kernel`. Differentiable.
at::Tensor RunVarlenAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const VarlenAttentionPlan& plan, double scale, VarlenKernel kernel);

// Whether flash attention's varlen kernel can take these inputs: CUDA, fp16 or bf16, head size a
// multiple of 8 and at most 256.
bool FlashVarlenSupports(const at::Device& device, at::ScalarType dtype, int64_t head_dim);
bool FlashVarlenSupports(const at::Tensor& q);

}  // namespace bagel
