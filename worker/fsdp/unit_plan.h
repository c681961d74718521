// How BAGEL is cut into fully sharded units, decided outside the model (torchtitan style): one
// unit per SigLIP encoder layer and per Qwen2 decoder layer, everything else (embeddings,
// lm_head, final norms, ViT embeddings and post-norm, connector, generation heads, sin-cos
// tables) in a root unit. Units are listed in forward order: ViT layers, LLM layers, root last.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "model/bagel/bagel_for_unified_multimodal.h"

namespace bagel::fsdp {

struct UnitParam {
  std::string name;  // checkpoint key ("language_model.model.layers.0.mlp.up_proj.weight")
  at::Tensor param;  // the module's registered parameter (same TensorImpl)
};

struct UnitPlan {
  std::string name;                           // "vit.3", "llm.12", "root"
  const torch::nn::Module* module = nullptr;  // the layer the hooks see; null for root
  std::vector<UnitParam> params;
};

// Every parameter of `model` lands in exactly one unit.
std::vector<UnitPlan> PlanBagelUnits(const BagelForUnifiedMultimodal& model);

}  // namespace bagel::fsdp
