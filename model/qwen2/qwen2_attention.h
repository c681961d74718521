// Packed Qwen2 self-attention: biased q/k/v projections, per-head RMSNorm on q and k (qk_norm),
// RoPE, grouped-query attention over an AttentionLayout, o_proj without bias.
//
// With MoT (BAGEL's Qwen2MoTDecoderLayer) every projection and norm has a *_moe_gen twin used
// for generation tokens; both experts' tokens share one attention.
#pragma once

#include <torch/nn/module.h>

#include "model/attention/attention_layout.h"
#include "model/config/bagel_config.h"
#include "model/nn/linear.h"
#include "model/nn/rms_norm.h"
#include "model/qwen2/rotary_embedding.h"
#include "model/qwen2/token_routing.h"

namespace bagel {

class Qwen2Attention : public torch::nn::Module {
 public:
  Qwen2Attention(const LlmConfig& config, bool mot, const at::TensorOptions& options);

  // x: [N, hidden] (already input-normalised). routing is required with MoT, ignored without.
  at::Tensor Forward(const at::Tensor& x, const RopeTables& rope, const AttentionLayout& layout,
                     const TokenRouting* routing) const;

  std::shared_ptr<nn::Linear> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<nn::RmsNorm> q_norm, k_norm;  // null without qk_norm
  std::shared_ptr<nn::Linear> q_proj_moe_gen, k_proj_moe_gen, v_proj_moe_gen, o_proj_moe_gen;
  std::shared_ptr<nn::RmsNorm> q_norm_moe_gen, k_norm_moe_gen;

 private:
  struct Qkv {
    at::Tensor q, k, v;  // [n, heads, d]
  };
  Qkv Project(const at::Tensor& x, bool gen) const;

  int64_t heads_, kv_heads_, head_dim_;
  bool mot_;
};

}  // namespace bagel
