#include "worker/trainer/job_model.h"

#include <c10/util/Exception.h>

#include <filesystem>

#include "model/config/bagel_config.h"
#include "model/config/presets.h"

namespace bagel::train {

BagelConfig JobModelConfig(const config::JobSpec& spec) {
  const bool from_preset = spec.model.init_from.kind == config::InitFrom::Kind::kPreset;
  TORCH_CHECK(spec.model.init_from.kind != config::InitFrom::Kind::kJob,
              "model.init_from.job must be resolved to a path by the coordinator before launch");
  BagelConfig config = from_preset ? PresetConfig(spec.model.init_from.preset)
                                   : LoadBagelConfig(spec.model.init_from.path);
  if (spec.model.max_latent_size) config.max_latent_size = *spec.model.max_latent_size;
  config.timestep_shift = spec.train.timestep_shift;
  PrepareConfigForStage(config, spec.model.stage);
  return config;
}

std::string InitWeightsFile(const std::string& checkpoint_dir) {
  const std::filesystem::path dir(checkpoint_dir);
  return (std::filesystem::exists(dir / "ema.safetensors") ? dir / "ema.safetensors"
                                                           : dir / "model.safetensors")
      .string();
}

lora::LoraOptions LoraOptionsOf(const config::LoraSpec& spec) {
  lora::LoraOptions o;
  o.rank = spec.rank;
  o.alpha = spec.alpha;
  o.dropout = spec.dropout;
  o.targets = spec.targets;
  return o;
}

std::vector<std::string> ApplyTrainableSettings(const config::JobSpec& spec,
                                                BagelForUnifiedMultimodal& model) {
  auto freeze = [](torch::nn::Module& m) {
    for (auto& p : m.parameters()) p.set_requires_grad(false);
  };
  const config::ModelSpec& m = spec.model;
  if (m.freeze_llm) freeze(*model.model->language_model);
  if (m.freeze_vit && model.model->vit_model) freeze(*model.model->vit_model);
  model.SetFreezeUnd(m.freeze_und);
  // No optimizer state for what freeze_und leaves without gradient.
  if (m.freeze_und) model.FreezeUnderstandingParameters();
  model.SetGroupedRouting(m.grouped_routing);
  if (!spec.lora.enabled) return {};
  // The adapters' initial values are seeded per key, so every rank and sharding agree.
  return lora::AddLoraAdapters(model, LoraOptionsOf(spec.lora), m.init_from.seed);
}

}  // namespace bagel::train
