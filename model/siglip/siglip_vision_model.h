// SigLIP NaViT vision encoder as BAGEL runs it (BAGEL.md §1.4): a Linear patch embedding over
// patchified pixels plus a learned position table indexed by row * 70 + col, pre-LN encoder
// layers with non-causal attention inside each image, then post_layernorm. The layer count is
// the trimmed one (BagelConfig::vit_layers_built).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/attention/attention_layout.h"
#include "model/config/bagel_config.h"
#include "model/nn/embedding.h"
#include "model/nn/layer_hooks.h"
#include "model/nn/layer_norm.h"
#include "model/nn/linear.h"

namespace bagel {

class SiglipVisionEmbeddings : public torch::nn::Module {
 public:
  SiglipVisionEmbeddings(const VitConfig& config, const at::TensorOptions& options);
  // pixels [n, p*p*C], position_ids [n] -> [n, hidden]
  at::Tensor Forward(const at::Tensor& pixels, const at::Tensor& position_ids) const;

  std::shared_ptr<nn::Linear> patch_embedding;
  std::shared_ptr<nn::Embedding> position_embedding;
};

class SiglipAttention : public torch::nn::Module {
 public:
  SiglipAttention(const VitConfig& config, const at::TensorOptions& options);
  // x [n, hidden]; attention within each image (layout: one full segment per image).
  at::Tensor Forward(const at::Tensor& x, const AttentionLayout& images) const;

  std::shared_ptr<nn::Linear> q_proj, k_proj, v_proj, out_proj;

 private:
  int64_t heads_, head_dim_;
};

class SiglipMlp : public torch::nn::Module {
 public:
  SiglipMlp(const VitConfig& config, const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& x) const;  // fc2(gelu_tanh(fc1(x)))

  std::shared_ptr<nn::Linear> fc1, fc2;
};

class SiglipEncoderLayer : public torch::nn::Module {
 public:
  SiglipEncoderLayer(const VitConfig& config, const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& x, const AttentionLayout& images) const;

  std::shared_ptr<SiglipAttention> self_attn;
  std::shared_ptr<nn::LayerNorm> layer_norm1, layer_norm2;
  std::shared_ptr<SiglipMlp> mlp;
};

class SiglipEncoder : public torch::nn::Module {
 public:
  SiglipEncoder(const VitConfig& config, int64_t num_layers, const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& x, const std::vector<int64_t>& image_lens) const;

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  SiglipEncoderLayer& layer(int64_t i) const { return *layers_.at(i); }
  // Hooks around every encoder layer (null: none). Not owned.
  void SetLayerHooks(nn::LayerHooks* hooks) { hooks_ = hooks; }

  torch::nn::ModuleList layers;

 private:
  std::vector<std::shared_ptr<SiglipEncoderLayer>> layers_;
  nn::LayerHooks* hooks_ = nullptr;
};

class SiglipVisionTransformer : public torch::nn::Module {
 public:
  SiglipVisionTransformer(const VitConfig& config, int64_t num_layers,
                          const at::TensorOptions& options);
  at::Tensor Forward(const at::Tensor& pixels, const at::Tensor& position_ids,
                     const std::vector<int64_t>& image_lens) const;

  std::shared_ptr<SiglipVisionEmbeddings> embeddings;
  std::shared_ptr<SiglipEncoder> encoder;
  std::shared_ptr<nn::LayerNorm> post_layernorm;
};

class SiglipVisionModel : public torch::nn::Module {
 public:
  SiglipVisionModel(const VitConfig& config, int64_t num_layers, const at::TensorOptions& options);

  // pixels [n, p*p*C] (patchified, in [-1, 1]), position_ids [n], image_lens: patches per
  // image (sum = n) -> [n, vit_hidden].
  at::Tensor Forward(const at::Tensor& pixels, const at::Tensor& position_ids,
                     const std::vector<int64_t>& image_lens) const;

  std::shared_ptr<SiglipVisionTransformer> vision_model;
};

}  // namespace bagel
