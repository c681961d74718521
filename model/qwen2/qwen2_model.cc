#include "model/qwen2/qwen2_model.h"

namespace bagel {

Qwen2Model::Qwen2Model(const LlmConfig& c, const at::TensorOptions& options)
    : rotary_(c.head_dim(), c.rope_theta), use_moe_(c.layer_module != LayerModule::kDense) {
  embed_tokens = register_module(
      "embed_tokens",
      std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, c.pad_token_id, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = std::make_shared<Qwen2DecoderLayer>(c, options);
    layers->push_back(layer);
    layers_.push_back(layer);
  }
  norm = register_module("norm",
                         std::make_shared<nn::RmsNorm>(c.hidden_size, c.rms_norm_eps, options));
  if (use_moe_) {
    norm_moe_gen = register_module(
        "norm_moe_gen", std::make_shared<nn::RmsNorm>(c.hidden_size, c.rms_norm_eps, options));
  }
}

at::Tensor Qwen2Model::Forward(const at::Tensor& seq, const at::Tensor& position_ids,
                               const AttentionLayout& layout, const TokenRouting* routing) const {
  const int64_t n = seq.size(0);
  const RopeTables rope = rotary_.Tables(position_ids, seq.scalar_type());
  at::Tensor h = seq;
  if (use_moe_) {
    TORCH_CHECK(routing != nullptr, "a MoT language model needs token routing");
    h = routing->ToGrouped(h);  // the one permutation on entry (grouped layout only)
    if (routing->freeze_und) h = routing->Merge(routing->Und(h).detach(), routing->Gen(h), n);
  }
  // The layer body owns (shares) what it needs: it may run again in backward (recomputation).
  struct LayerInputs {
    RopeTables rope;
    AttentionLayout layout;
    std::optional<TokenRouting> routing;
  };
  auto shared = std::make_shared<const LayerInputs>(
      LayerInputs{rope, layout, routing ? std::optional<TokenRouting>(*routing) : std::nullopt});
  for (const auto& layer : layers_) {
    h = nn::RunHookedLayer(hooks_, *layer, h, [layer, shared](const at::Tensor& x) {
      return layer->Forward(x, shared->rope, shared->layout,
                            shared->routing ? &*shared->routing : nullptr);
    });
  }
  if (!use_moe_) return norm->Forward(h);
  at::Tensor hu = norm->Forward(routing->Und(h));
  if (routing->freeze_und) hu = hu.detach();
  at::Tensor hg = norm_moe_gen->Forward(routing->Gen(h));
  return routing->ToSequence(routing->Merge(hu, hg, n));  // and the one on exit
}

Qwen2ForCausalLM::Qwen2ForCausalLM(const LlmConfig& c, const at::TensorOptions& options) {
  model = register_module("model", std::make_shared<Qwen2Model>(c, options));
  lm_head = register_module(
      "lm_head", std::make_shared<nn::Linear>(c.hidden_size, c.vocab_size, false, options));
}

}  // namespace bagel
