#include "model/inference/inference_model.h"

#include <c10/util/Exception.h>

#include <filesystem>

namespace bagel {

at::Device InferenceModel::device() const {
  return modules().language_model->model->embed_tokens->weight.device();
}

at::ScalarType InferenceModel::dtype() const {
  return modules().language_model->model->embed_tokens->weight.scalar_type();
}

int64_t InferenceModel::latent_downsample() const {
  return config().vae.downsample * config().latent_patch_size;
}

at::Tensor InferenceModel::Embed(const std::vector<int64_t>& ids) const {
  const int64_t vocab = config().llm.vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    TORCH_CHECK(ids[i] >= 0 && ids[i] < vocab, "token id ", ids[i], " at position ", i,
                " is outside the vocabulary [0, ", vocab, ")");
  }
  at::Tensor t = at::tensor(ids, at::TensorOptions().dtype(at::kLong)).to(device());
  return lm().embed_tokens->Forward(t);
}

const vae::FluxVae& InferenceModel::RequireVae(const char* what) const {
  TORCH_CHECK(vae != nullptr, what, " needs the VAE (ae.safetensors), which is not loaded");
  return *vae;
}

void InferenceModel::CheckTokens() const {
  const int64_t vocab = config().llm.vocab_size;
  const std::pair<const char*, int64_t> named[] = {{"bos (<|im_start|>)", tokens.bos},
                                                   {"eos (<|im_end|>)", tokens.eos},
                                                   {"start_of_image", tokens.start_of_image},
                                                   {"end_of_image", tokens.end_of_image}};
  for (const auto& [name, id] : named) {
    TORCH_CHECK(id >= 0 && id < vocab, "special token ", name, " = ", id,
                " is outside the model's vocabulary [0, ", vocab,
                "): give the special token ids of this vocabulary");
  }
}

InferenceModel LoadInferenceModel(const std::string& dir, const InferenceModelOptions& options) {
  namespace fs = std::filesystem;
  TORCH_CHECK(fs::is_directory(dir), "checkpoint directory ", dir, " does not exist");
  const int stage = options.stage.value_or(LoadBagelConfig(dir).StageFromFile());
  FromPretrainedOptions load;
  load.tensor_options = at::TensorOptions().dtype(options.dtype).device(at::Device(options.device));
  InferenceModel m;
  m.bagel = BagelForUnifiedMultimodal::FromPretrained(dir, stage, options.strict, load).model;
  m.bagel->eval();
  m.tokens = options.tokens;
  m.CheckTokens();
  const std::string vae_path =
      options.vae_path.empty() ? (fs::path(dir) / "ae.safetensors").string() : options.vae_path;
  if (!options.vae_path.empty() || fs::exists(vae_path)) {
    TORCH_CHECK(fs::exists(vae_path), "VAE file ", vae_path, " does not exist");
    m.vae = vae::FluxVae::Load(vae_path, load.tensor_options);
    TORCH_CHECK(m.vae->params().downsample() == m.config().vae.downsample, vae_path,
                ": the VAE downsamples by ", m.vae->params().downsample(),
                " but the model's vae_config.downsample is ", m.config().vae.downsample);
    TORCH_CHECK(m.vae->params().z_channels == m.config().vae.z_channels, vae_path, ": the VAE has ",
                m.vae->params().z_channels,
                " latent channels but the model's vae_config.z_channels is ",
                m.config().vae.z_channels);
  }
  return m;
}

}  // namespace bagel
