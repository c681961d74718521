// One pre-norm Qwen2 decoder layer over a packed sequence:
//   x += attn(input_layernorm(x)); x += mlp(post_attention_layernorm(x)).
// The MoT variant (Stage 2) routes understanding and generation tokens through separate norms,
// projections and MLPs, sharing the attention; with freeze_und it detaches every
// understanding-path output (BAGEL.md §2.7).
#pragma once

#include <torch/nn/module.h>

#include "model/qwen2/qwen2_attention.h"
#include "model/qwen2/qwen2_mlp.h"

namespace bagel {

class Qwen2DecoderLayer : public torch::nn::Module {
 public:
  Qwen2DecoderLayer(const LlmConfig& config, const at::TensorOptions& options);

  at::Tensor Forward(const at::Tensor& x, const RopeTables& rope, const AttentionLayout& layout,
                     const TokenRouting* routing) const;

  bool is_mot() const { return mot_; }

  std::shared_ptr<Qwen2Attention> self_attn;
  std::shared_ptr<Qwen2Mlp> mlp, mlp_moe_gen;
  std::shared_ptr<nn::RmsNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<nn::RmsNorm> input_layernorm_moe_gen, post_attention_layernorm_moe_gen;

 private:
  bool mot_;
};

}  // namespace bagel
