// Sample images from fixed prompts during Stage 2 training (the job spec's eval.prompts): the
// gathered weights are loaded into an unsharded model and each prompt is sampled with the
// official text-to-image recipe (BAGEL.md §5.2: 4.0 text CFG on (0.4, 1], shift 3, global
// renorm), from the same noise at every evaluation so that the images show training's progress.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/config/bagel_config.h"
#include "model/inference/inference_context.h"

namespace bagel::vae {
class FluxVae;
}

namespace bagel::train {

struct EvalSampleOptions {
  std::vector<std::vector<int64_t>> prompt_ids;  // one image per prompt
  SpecialTokens tokens;
  int64_t image_size = 256;  // square, a multiple of 16
  int num_timesteps = 50;
  uint64_t seed = 0;  // prompt i draws its noise from seed + i
  std::string out_dir;
  // The sampling model's dtype: the training compute dtype, so that a bf16 job's second copy
  // of the model on its device takes half the memory of float32.
  at::ScalarType dtype = at::kFloat;
};

// Writes out_dir/<i>.png for each prompt and returns their paths. `weights` are the model's
// tensors under checkpoint names (FsdpEngine::GatherFull); the VAE decodes the latents.
std::vector<std::string> WriteEvalSamples(const BagelConfig& config,
                                          const std::map<std::string, at::Tensor>& weights,
                                          const std::shared_ptr<vae::FluxVae>& vae,
                                          const at::Device& device,
                                          const EvalSampleOptions& options);

}  // namespace bagel::train
