#include "model/qwen2/qwen2_decoder_layer.h"

#include <c10/util/Exception.h>

namespace bagel {

Qwen2DecoderLayer::Qwen2DecoderLayer(const LlmConfig& c, const at::TensorOptions& options)
    : mot_(c.layer_module == LayerModule::kMoT) {
  TORCH_CHECK(c.layer_module != LayerModule::kMoE,
              "layer_module Qwen2MoEDecoderLayer is not supported (BAGEL releases use MoT)");
  auto norm = [&](const char* name) {
    return register_module(name,
                           std::make_shared<nn::RmsNorm>(c.hidden_size, c.rms_norm_eps, options));
  };
  self_attn = register_module("self_attn", std::make_shared<Qwen2Attention>(c, mot_, options));
  mlp = register_module("mlp", std::make_shared<Qwen2Mlp>(c, options));
  if (mot_) mlp_moe_gen = register_module("mlp_moe_gen", std::make_shared<Qwen2Mlp>(c, options));
  input_layernorm = norm("input_layernorm");
  if (mot_) input_layernorm_moe_gen = norm("input_layernorm_moe_gen");
  post_attention_layernorm = norm("post_attention_layernorm");
  if (mot_) post_attention_layernorm_moe_gen = norm("post_attention_layernorm_moe_gen");
}

at::Tensor Qwen2DecoderLayer::Forward(const at::Tensor& x, const RopeTables& rope,
                                      const AttentionLayout& layout,
                                      const TokenRouting* routing) const {
  if (!mot_) {
    at::Tensor h = x + self_attn->Forward(input_layernorm->Forward(x), rope, layout, nullptr);
    return h + mlp->Forward(post_attention_layernorm->Forward(h));
  }
  TORCH_CHECK(routing != nullptr, "MoT decoder layer needs token routing");
  const int64_t n = x.size(0);
  const TokenRouting& r = *routing;
  at::Tensor normed =
      r.Merge(input_layernorm->Forward(r.Und(x)), input_layernorm_moe_gen->Forward(r.Gen(x)), n);
  at::Tensor attn = self_attn->Forward(normed, rope, layout, routing);
  if (r.freeze_und) attn = r.Merge(r.Und(attn).detach(), r.Gen(attn), n);
  at::Tensor h = x + attn;
  at::Tensor mu = mlp->Forward(post_attention_layernorm->Forward(r.Und(h)));
  if (r.freeze_und) mu = mu.detach();
  at::Tensor mg = mlp_moe_gen->Forward(post_attention_layernorm_moe_gen->Forward(r.Gen(h)));
  return h + r.Merge(mu, mg, n);
}

}  // namespace bagel
