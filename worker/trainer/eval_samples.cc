#include "worker/trainer/eval_samples.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <filesystem>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/inference/image_io.h"
#include "model/inference/interleave_inference.h"
#include "model/io/state_dict_adapter.h"
#include "model/vae/flux_vae.h"

namespace bagel::train {

std::vector<std::string> WriteEvalSamples(const BagelConfig& config,
                                          const std::map<std::string, at::Tensor>& weights,
                                          const std::shared_ptr<vae::FluxVae>& vae,
                                          const at::Device& device,
                                          const EvalSampleOptions& options) {
  namespace fs = std::filesystem;
  TORCH_CHECK(vae != nullptr, "eval.prompts: sampling images needs the VAE (model.vae)");
  TORCH_CHECK(options.image_size > 0 && options.image_size % 16 == 0,
              "eval.image_size must be a positive multiple of 16, got ", options.image_size);
  InferenceModel model;
  model.bagel = std::make_shared<BagelForUnifiedMultimodal>(
      config, at::TensorOptions().dtype(options.dtype).device(device));
  {
    at::NoGradGuard no_grad;
    for (auto& item : model.bagel->named_parameters()) {
      const std::string key = io::NativeKeyToCheckpoint(item.key());
      auto found = weights.find(key);
      TORCH_INTERNAL_ASSERT(found != weights.end(), "gathered weights lack ", key);
      item.value().copy_(found->second);
    }
  }
  model.bagel->eval();
  model.vae = vae;
  model.tokens = options.tokens;
  model.CheckTokens();

  fs::create_directories(options.out_dir);
  std::vector<std::string> paths;
  for (size_t i = 0; i < options.prompt_ids.size(); ++i) {
    InterleaveOptions o;
    o.understanding_output = false;
    o.image_height = o.image_width = options.image_size;
    o.image.num_timesteps = options.num_timesteps;
    o.image.cfg_text_scale = 4.0;
    o.image.cfg_img_scale = 1.0;
    o.image.cfg_interval_lo = 0.4;
    o.image.cfg_interval_hi = 1.0;
    o.image.generator = at::detail::createCPUGenerator(options.seed + i);
    o.vae_generator = at::detail::createCPUGenerator(options.seed + i + 1000003);
    const InterleaveResult r =
        InterleaveInference(model, {InterleaveInput::Text(options.prompt_ids[i])}, o);
    const std::string path = (fs::path(options.out_dir) / (std::to_string(i) + ".png")).string();
    WritePng(path, ImageToUint8(r.image));
    paths.push_back(path);
  }
  return paths;
}

}  // namespace bagel::train
