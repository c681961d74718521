// BagelModel: the plain container whose attribute names match the checkpoint layout
// (language_model, vit_model, connector, vit_pos_embed; with visual_gen also time_embedder,
// vae2llm, llm2vae, latent_pos_embed). No forward logic lives here; the VAE is not owned.
#pragma once

#include <torch/nn/module.h>

#include "model/bagel/mlp_connector.h"
#include "model/bagel/position_embedding.h"
#include "model/bagel/timestep_embedder.h"
#include "model/config/bagel_config.h"
#include "model/qwen2/qwen2_model.h"
#include "model/siglip/siglip_vision_model.h"

namespace bagel {

class BagelModel : public torch::nn::Module {
 public:
  // `config` must be prepared for its stage (PrepareConfigForStage).
  BagelModel(const BagelConfig& config, const at::TensorOptions& options);

  std::shared_ptr<Qwen2ForCausalLM> language_model;
  // Generation (visual_gen): null in Stage 1.
  std::shared_ptr<TimestepEmbedder> time_embedder;
  std::shared_ptr<nn::Linear> vae2llm, llm2vae;
  std::shared_ptr<PositionEmbedding> latent_pos_embed;
  // Understanding (visual_und).
  std::shared_ptr<SiglipVisionModel> vit_model;
  std::shared_ptr<MlpConnector> connector;
  std::shared_ptr<PositionEmbedding> vit_pos_embed;
};

}  // namespace bagel
