// The packed Qwen2 language model: token embedding, decoder layers, final RMSNorm (and its
// generation twin with MoT); Qwen2ForCausalLM adds the untied lm_head.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/nn/embedding.h"
#include "model/nn/layer_hooks.h"
#include "model/qwen2/qwen2_decoder_layer.h"

namespace bagel {

class Qwen2Model : public torch::nn::Module {
 public:
  Qwen2Model(const LlmConfig& config, const at::TensorOptions& options);

  // seq: [N, hidden] input embeddings; position_ids: [N]. Returns normalised hidden states.
  // routing: required for MoT layers (training: und = text + ViT, gen = VAE latents).
  at::Tensor Forward(const at::Tensor& seq, const at::Tensor& position_ids,
                     const AttentionLayout& layout, const TokenRouting* routing) const;

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  Qwen2DecoderLayer& layer(int64_t i) const { return *layers_.at(i); }
  const RotaryEmbedding& rotary_emb() const { return rotary_; }
  bool use_moe() const { return use_moe_; }
  // Hooks around every decoder layer (null: none). Not owned.
  void SetLayerHooks(nn::LayerHooks* hooks) { hooks_ = hooks; }

  std::shared_ptr<nn::Embedding> embed_tokens;
  torch::nn::ModuleList layers;
  std::shared_ptr<nn::RmsNorm> norm, norm_moe_gen;

 private:
  std::vector<std::shared_ptr<Qwen2DecoderLayer>> layers_;
  RotaryEmbedding rotary_;
  bool use_moe_;
  nn::LayerHooks* hooks_ = nullptr;
};

class Qwen2ForCausalLM : public torch::nn::Module {
 public:
  Qwen2ForCausalLM(const LlmConfig& config, const at::TensorOptions& options);

  std::shared_ptr<Qwen2Model> model;
  std::shared_ptr<nn::Linear> lm_head;  // [vocab, hidden], no bias, untied
};

}  // namespace bagel
