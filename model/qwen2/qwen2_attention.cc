#include "model/qwen2/qwen2_attention.h"

#include <cmath>

#include "model/attention/packed_attention.h"

namespace bagel {

Qwen2Attention::Qwen2Attention(const LlmConfig& c, bool mot, const at::TensorOptions& options)
    : heads_(c.num_attention_heads),
      kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim()),
      mot_(mot) {
  const int64_t h = c.hidden_size;
  auto linear = [&](const char* name, int64_t in, int64_t out, bool bias) {
    return register_module(name, std::make_shared<nn::Linear>(in, out, bias, options));
  };
  auto norm = [&](const char* name) {
    return register_module(name, std::make_shared<nn::RmsNorm>(head_dim_, c.rms_norm_eps, options));
  };
  q_proj = linear("q_proj", h, heads_ * head_dim_, true);
  k_proj = linear("k_proj", h, kv_heads_ * head_dim_, true);
  v_proj = linear("v_proj", h, kv_heads_ * head_dim_, true);
  o_proj = linear("o_proj", heads_ * head_dim_, h, false);
  if (c.qk_norm) {
    q_norm = norm("q_norm");
    k_norm = norm("k_norm");
  }
  if (mot) {
    if (c.qk_norm) {
      q_norm_moe_gen = norm("q_norm_moe_gen");
      k_norm_moe_gen = norm("k_norm_moe_gen");
    }
    q_proj_moe_gen = linear("q_proj_moe_gen", h, heads_ * head_dim_, true);
    k_proj_moe_gen = linear("k_proj_moe_gen", h, kv_heads_ * head_dim_, true);
    v_proj_moe_gen = linear("v_proj_moe_gen", h, kv_heads_ * head_dim_, true);
    o_proj_moe_gen = linear("o_proj_moe_gen", heads_ * head_dim_, h, false);
  }
}

Qwen2Attention::Qkv Qwen2Attention::Project(const at::Tensor& x, bool gen) const {
  const auto& qp = gen ? q_proj_moe_gen : q_proj;
  const auto& kp = gen ? k_proj_moe_gen : k_proj;
  const auto& vp = gen ? v_proj_moe_gen : v_proj;
  const auto& qn = gen ? q_norm_moe_gen : q_norm;
  const auto& kn = gen ? k_norm_moe_gen : k_norm;
  Qkv out;
  out.q = qp->Forward(x).view({-1, heads_, head_dim_});
  out.k = kp->Forward(x).view({-1, kv_heads_, head_dim_});
  out.v = vp->Forward(x).view({-1, kv_heads_, head_dim_});
  if (qn) out.q = qn->Forward(out.q);
  if (kn) out.k = kn->Forward(out.k);
  return out;
}

at::Tensor Qwen2Attention::Forward(const at::Tensor& x, const RopeTables& rope,
                                   const AttentionLayout& layout,
                                   const TokenRouting* routing) const {
  const int64_t n = x.size(0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  if (!mot_) {
    Qkv s = Project(x, /*gen=*/false);
    at::Tensor a =
        PackedAttention(ApplyRotary(s.q, rope), ApplyRotary(s.k, rope), s.v, layout, scale);
    return o_proj->Forward(a.reshape({n, heads_ * head_dim_}));
  }
  TORCH_CHECK(routing != nullptr, "MoT attention needs token routing");
  // x is in the routing's layout; the attention itself runs in sequence order.
  Qkv u = Project(routing->Und(x), /*gen=*/false);
  Qkv g = Project(routing->Gen(x), /*gen=*/true);
  if (routing->freeze_und) {
    u.q = u.q.detach();
    u.k = u.k.detach();
    u.v = u.v.detach();
  }
  at::Tensor q = routing->ToSequence(routing->Merge(u.q, g.q, n));
  at::Tensor k = routing->ToSequence(routing->Merge(u.k, g.k, n));
  at::Tensor v = routing->ToSequence(routing->Merge(u.v, g.v, n));
  at::Tensor a = routing->ToGrouped(
      PackedAttention(ApplyRotary(q, rope), ApplyRotary(k, rope), v, layout, scale)
          .reshape({n, heads_ * head_dim_}));
  at::Tensor ou = o_proj->Forward(routing->Und(a));
  at::Tensor og = o_proj_moe_gen->Forward(routing->Gen(a));
  return routing->Merge(ou, og, n);
}

}  // namespace bagel
