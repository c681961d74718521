#include "model/bagel/bagel_model.h"

namespace bagel {

BagelModel::BagelModel(const BagelConfig& c, const at::TensorOptions& options) {
  const int64_t hidden = c.llm.hidden_size;
  // Registration order follows the official Bagel.__init__ (state-dict order).
  language_model =
      register_module("language_model", std::make_shared<Qwen2ForCausalLM>(c.llm, options));
  if (c.visual_gen) {
    time_embedder =
        register_module("time_embedder", std::make_shared<TimestepEmbedder>(hidden, options));
    vae2llm = register_module(
        "vae2llm", std::make_shared<nn::Linear>(c.patch_latent_dim(), hidden, true, options));
    llm2vae = register_module(
        "llm2vae", std::make_shared<nn::Linear>(hidden, c.patch_latent_dim(), true, options));
    latent_pos_embed = register_module("latent_pos_embed", std::make_shared<PositionEmbedding>(
                                                               c.max_latent_size, hidden, options));
  }
  if (c.visual_und) {
    vit_model = register_module(
        "vit_model", std::make_shared<SiglipVisionModel>(c.vit, c.vit_layers_built, options));
    connector = register_module("connector",
                                std::make_shared<MlpConnector>(c.vit.hidden_size, hidden, options));
    vit_pos_embed = register_module(
        "vit_pos_embed",
        std::make_shared<PositionEmbedding>(c.vit_max_num_patch_per_side, hidden, options));
  }
}

}  // namespace bagel
