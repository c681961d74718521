#include "model/siglip/siglip_vision_model.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "model/attention/packed_attention.h"

namespace bagel {

SiglipVisionEmbeddings::SiglipVisionEmbeddings(const VitConfig& c,
                                               const at::TensorOptions& options) {
  const int64_t in = c.num_channels * c.patch_size * c.patch_size;
  patch_embedding = register_module("patch_embedding",
                                    std::make_shared<nn::Linear>(in, c.hidden_size, true, options));
  position_embedding = register_module(
      "position_embedding",
      std::make_shared<nn::Embedding>(c.num_positions(), c.hidden_size, std::nullopt, options));
}

at::Tensor SiglipVisionEmbeddings::Forward(const at::Tensor& pixels,
                                           const at::Tensor& position_ids) const {
  return patch_embedding->Forward(pixels) + position_embedding->Forward(position_ids);
}

SiglipAttention::SiglipAttention(const VitConfig& c, const at::TensorOptions& options)
    : heads_(c.num_attention_heads), head_dim_(c.head_dim()) {
  auto linear = [&](const char* name) {
    return register_module(
        name, std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size, true, options));
  };
  q_proj = linear("q_proj");
  k_proj = linear("k_proj");
  v_proj = linear("v_proj");
  out_proj = linear("out_proj");
}

at::Tensor SiglipAttention::Forward(const at::Tensor& x, const AttentionLayout& images) const {
  const int64_t n = x.size(0);
  at::Tensor q = q_proj->Forward(x).view({n, heads_, head_dim_});
  at::Tensor k = k_proj->Forward(x).view({n, heads_, head_dim_});
  at::Tensor v = v_proj->Forward(x).view({n, heads_, head_dim_});
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  at::Tensor a = PackedAttention(q, k, v, images, scale);
  return out_proj->Forward(a.reshape({n, heads_ * head_dim_}));
}

SiglipMlp::SiglipMlp(const VitConfig& c, const at::TensorOptions& options) {
  fc1 = register_module(
      "fc1", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size, true, options));
  fc2 = register_module(
      "fc2", std::make_shared<nn::Linear>(c.intermediate_size, c.hidden_size, true, options));
}

at::Tensor SiglipMlp::Forward(const at::Tensor& x) const {
  return fc2->Forward(at::gelu(fc1->Forward(x), "tanh"));
}

SiglipEncoderLayer::SiglipEncoderLayer(const VitConfig& c, const at::TensorOptions& options) {
  self_attn = register_module("self_attn", std::make_shared<SiglipAttention>(c, options));
  layer_norm1 = register_module(
      "layer_norm1", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, options));
  mlp = register_module("mlp", std::make_shared<SiglipMlp>(c, options));
  layer_norm2 = register_module(
      "layer_norm2", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, options));
}

at::Tensor SiglipEncoderLayer::Forward(const at::Tensor& x, const AttentionLayout& images) const {
  at::Tensor h = x + self_attn->Forward(layer_norm1->Forward(x), images);
  return h + mlp->Forward(layer_norm2->Forward(h));
}

SiglipEncoder::SiglipEncoder(const VitConfig& c, int64_t num_layers,
                             const at::TensorOptions& options) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    auto layer = std::make_shared<SiglipEncoderLayer>(c, options);
    layers->push_back(layer);
    layers_.push_back(layer);
  }
}

at::Tensor SiglipEncoder::Forward(const at::Tensor& x,
                                  const std::vector<int64_t>& image_lens) const {
  // One layout (and varlen plan) for every layer; the layers' closures may run again in
  // backward (activation checkpointing), so they share it.
  auto images = std::make_shared<const AttentionLayout>(AttentionLayout::FullSegments(image_lens));
  at::Tensor h = x;
  for (const auto& layer : layers_) {
    h = nn::RunHookedLayer(hooks_, *layer, h, [layer, images](const at::Tensor& x) {
      return layer->Forward(x, *images);
    });
  }
  return h;
}

SiglipVisionTransformer::SiglipVisionTransformer(const VitConfig& c, int64_t num_layers,
                                                 const at::TensorOptions& options) {
  embeddings = register_module("embeddings", std::make_shared<SiglipVisionEmbeddings>(c, options));
  encoder = register_module("encoder", std::make_shared<SiglipEncoder>(c, num_layers, options));
  post_layernorm = register_module(
      "post_layernorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, options));
}

at::Tensor SiglipVisionTransformer::Forward(const at::Tensor& pixels,
                                            const at::Tensor& position_ids,
                                            const std::vector<int64_t>& image_lens) const {
  return post_layernorm->Forward(
      encoder->Forward(embeddings->Forward(pixels, position_ids), image_lens));
}

SiglipVisionModel::SiglipVisionModel(const VitConfig& c, int64_t num_layers,
                                     const at::TensorOptions& options) {
  TORCH_CHECK(num_layers >= 1, "the ViT needs at least one layer, got ", num_layers);
  vision_model = register_module("vision_model",
                                 std::make_shared<SiglipVisionTransformer>(c, num_layers, options));
}

at::Tensor SiglipVisionModel::Forward(const at::Tensor& pixels, const at::Tensor& position_ids,
                                      const std::vector<int64_t>& image_lens) const {
  return vision_model->Forward(pixels, position_ids, image_lens);
}

}  // namespace bagel
