#include "model/attention/varlen_attention_plan.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <utility>

namespace bagel {
namespace {

// One group's indices and lengths while they are built on the host.
struct HostGroup {
  bool causal = false;
  std::vector<int64_t> q, k, cu_q{0}, cu_k{0};
  int64_t max_q = 0, max_k = 0;
};

bool IsIdentity(const std::vector<int64_t>& index, int64_t n) {
  if (static_cast<int64_t>(index.size()) != n) return false;
  for (int64_t i = 0; i < n; ++i) {
    if (index[i] != i) return false;
  }
  return true;
}

// SDPA per segment with the bottom-right causal mask: what the flash kernel computes, in ops
// that run anywhere (GQA by repeating K/V here only).
at::Tensor ReferenceVarlenKernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const VarlenGroup& g, double scale) {
  const int64_t group = q.size(1) / k.size(1);
  std::vector<at::Tensor> outs;
  for (size_t s = 0; s + 1 < g.cu_q_host.size(); ++s) {
    const int64_t q0 = g.cu_q_host[s], lq = g.cu_q_host[s + 1] - q0;
    const int64_t k0 = g.cu_k_host[s], lk = g.cu_k_host[s + 1] - k0;
    at::Tensor qs = q.narrow(0, q0, lq).transpose(0, 1).unsqueeze(0);  // [1, Hq, lq, d]
    at::Tensor ks = k.narrow(0, k0, lk), vs = v.narrow(0, k0, lk);
    if (group > 1) {
      ks = ks.repeat_interleave(group, 1);
      vs = vs.repeat_interleave(group, 1);
    }
    ks = ks.transpose(0, 1).unsqueeze(0);
    vs = vs.transpose(0, 1).unsqueeze(0);
    std::optional<at::Tensor> mask;
    if (g.causal && lk > lq) {
      mask =
          at::ones({lq, lk}, at::TensorOptions().dtype(at::kBool).device(q.device())).tril(lk - lq);
    }
    const bool square_causal = g.causal && lk == lq;
    outs.push_back(at::scaled_dot_product_attention(qs, ks, vs, mask, 0.0, square_causal, scale)
                       .squeeze(0)
                       .transpose(0, 1));
  }
  return outs.size() == 1 ? outs[0] : at::cat(outs, 0);
}

}  // namespace

VarlenAttentionPlan BuildVarlenAttentionPlan(const AttentionLayout& layout,
                                             const at::Device& device) {
  TORCH_CHECK(!layout.uses_dense_masks(),
              "a varlen attention plan needs split layouts, not dense masks");
  std::array<HostGroup, 2> host;  // causal, then full and noise
  host[0].causal = true;
  VarlenAttentionPlan plan;
  plan.num_tokens = layout.num_tokens();
  plan.device = device;
  for (const AttentionSample& sample : layout.samples()) {
    for (size_t j = 0; j < sample.splits.size(); ++j) {
      const AttentionSplit& split = sample.splits[j];
      HostGroup& h = host[split.mode == AttnMode::kCausal ? 0 : 1];
      for (int64_t t = split.start; t < split.start + split.length; ++t) h.q.push_back(t);
      for (const auto& [begin, end] : VisibleEarlierSplits(sample, j)) {
        for (int64_t t = begin; t < end; ++t) h.k.push_back(t);
      }
      for (int64_t t = split.start; t < split.start + split.length; ++t) h.k.push_back(t);
      h.max_q = std::max(h.max_q, static_cast<int64_t>(h.q.size()) - h.cu_q.back());
      h.max_k = std::max(h.max_k, static_cast<int64_t>(h.k.size()) - h.cu_k.back());
      h.cu_q.push_back(static_cast<int64_t>(h.q.size()));
      h.cu_k.push_back(static_cast<int64_t>(h.k.size()));
      ++plan.num_segments;
    }
  }

  // Where each token's output lands in the concatenated group outputs.
  std::vector<int64_t> inverse(static_cast<size_t>(plan.num_tokens), -1);
  int64_t position = 0;
  for (const HostGroup& h : host) {
    for (int64_t t : h.q) inverse[static_cast<size_t>(t)] = position++;
  }
  TORCH_INTERNAL_ASSERT(position == plan.num_tokens, "the splits cover ", position, " of ",
                        plan.num_tokens, " tokens");
  const bool inverse_identity = IsIdentity(inverse, plan.num_tokens);

  // Everything the device needs, in one buffer and one copy.
  std::vector<int64_t> all;
  struct Slices {
    size_t q = 0, k = 0, cu_q = 0, cu_k = 0;
  };
  std::array<Slices, 2> at_offset;
  auto append = [&all](const std::vector<int64_t>& values) {
    const size_t offset = all.size();
    all.insert(all.end(), values.begin(), values.end());
    return offset;
  };
  for (size_t i = 0; i < host.size(); ++i) {
    if (host[i].q.empty()) continue;
    at_offset[i] = {append(host[i].q), append(host[i].k), append(host[i].cu_q),
                    append(host[i].cu_k)};
  }
  const size_t inverse_at = inverse_identity ? all.size() : append(inverse);
  at::Tensor buffer = at::tensor(all, at::kLong);
  if (device.is_cuda()) buffer = buffer.pin_memory().to(device, /*non_blocking=*/true);
  auto slice = [&buffer](size_t offset, size_t length) {
    return buffer.narrow(0, static_cast<int64_t>(offset), static_cast<int64_t>(length));
  };
  for (size_t i = 0; i < host.size(); ++i) {
    HostGroup& h = host[i];
    if (h.q.empty()) continue;
    VarlenGroup g;
    g.causal = h.causal;
    g.q_index = slice(at_offset[i].q, h.q.size());
    g.k_index = slice(at_offset[i].k, h.k.size());
    g.cu_q = slice(at_offset[i].cu_q, h.cu_q.size()).to(at::kInt);
    g.cu_k = slice(at_offset[i].cu_k, h.cu_k.size()).to(at::kInt);
    g.q_identity = IsIdentity(h.q, plan.num_tokens);
    g.k_identity = IsIdentity(h.k, plan.num_tokens);
    g.max_q = h.max_q;
    g.max_k = h.max_k;
    g.cu_q_host = std::move(h.cu_q);
    g.cu_k_host = std::move(h.cu_k);
    plan.groups.push_back(std::move(g));
  }
  if (!inverse_identity) plan.inverse = slice(inverse_at, inverse.size());
  return plan;
}

bool FlashVarlenSupports(const at::Device& device, at::ScalarType dtype, int64_t head_dim) {
  return device.is_cuda() && (dtype == at::kBFloat16 || dtype == at::kHalf) && head_dim % 8 == 0 &&
         head_dim <= 256;
}

bool FlashVarlenSupports(const at::Tensor& q) {
  return FlashVarlenSupports(q.device(), q.scalar_type(), q.size(-1));
}

at::Tensor RunVarlenAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const VarlenAttentionPlan& plan, double scale, VarlenKernel kernel) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "varlen attention expects [N, H, d]");
  TORCH_CHECK(
      q.size(0) == plan.num_tokens && k.size(0) == plan.num_tokens && v.size(0) == plan.num_tokens,
      "the varlen plan covers ", plan.num_tokens, " tokens but q has ", q.size(0));
  TORCH_CHECK(q.size(1) % k.size(1) == 0, "query heads ", q.size(1), " not a multiple of kv heads ",
              k.size(1));
  TORCH_CHECK(q.device() == plan.device, "the varlen plan is on ", plan.device, ", q on ",
              q.device());
  TORCH_CHECK(kernel != VarlenKernel::kFlash || FlashVarlenSupports(q),
              "flash varlen attention needs CUDA fp16/bf16 with a head size multiple of 8 up to "
              "256; got ",
              q.device(), " ", q.scalar_type(), " head size ", q.size(-1));
  if (plan.groups.empty()) return at::empty_like(q);  // no tokens
  std::vector<at::Tensor> outs;
  for (const VarlenGroup& g : plan.groups) {
    const at::Tensor qg = g.q_identity ? q : q.index_select(0, g.q_index);
    const at::Tensor kg = g.k_identity ? k : k.index_select(0, g.k_index);
    const at::Tensor vg = g.k_identity ? v : v.index_select(0, g.k_index);
    if (kernel == VarlenKernel::kFlash) {
      outs.push_back(std::get<0>(at::_flash_attention_forward(
          qg.contiguous(), kg.contiguous(), vg.contiguous(), g.cu_q, g.cu_k, g.max_q, g.max_k,
          /*dropout_p=*/0.0, /*is_causal=*/g.causal, /*return_debug_mask=*/false, scale)));
    } else {
      outs.push_back(ReferenceVarlenKernel(qg, kg, vg, g, scale));
    }
  }
  at::Tensor out = outs.size() == 1 ? outs[0] : at::cat(outs, 0);
  return plan.inverse.defined() ? out.index_select(0, plan.inverse) : out;
}

}  // namespace bagel
