// The pieces inference runs on: a BAGEL model, the FLUX VAE (absent for understanding-only use)
// and the special token ids, with the small helpers every segment builder shares.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/inference/inference_context.h"
#include "model/vae/flux_vae.h"

namespace bagel {

struct InferenceModel {
  std::shared_ptr<BagelForUnifiedMultimodal> bagel;
  std::shared_ptr<vae::FluxVae> vae;  // null: no VAE segments, no image decoding
  SpecialTokens tokens;

  const BagelConfig& config() const { return bagel->config(); }
  const BagelModel& modules() const { return *bagel->model; }
  const Qwen2Model& lm() const { return *bagel->model->language_model->model; }
  at::Device device() const;
  at::ScalarType dtype() const;
  // Latent pixels per LLM token side: VAE downsample * latent_patch_size (16 for BAGEL).
  int64_t latent_downsample() const;

  // ids -> [n, hidden] token embeddings (ids checked against the vocabulary).
  at::Tensor Embed(const std::vector<int64_t>& ids) const;
  // The VAE, or a clear error naming `what` needs it.
  const vae::FluxVae& RequireVae(const char* what) const;
  // Throws naming the offending token when an id is outside the vocabulary.
  void CheckTokens() const;
};

struct InferenceModelOptions {
  std::string device = "cpu";
  at::ScalarType dtype = at::kFloat;
  // Default: config.json's stage (2 if visual_gen). Stage 1 models can only understand.
  std::optional<int> stage;
  bool strict = true;
  // Default: <checkpoint>/ae.safetensors when it exists.
  std::string vae_path;
  SpecialTokens tokens;
};

// Loads ema.safetensors (or model.safetensors) of an HF-layout checkpoint directory and, when
// present, its ae.safetensors, in eval mode on the requested device and dtype.
InferenceModel LoadInferenceModel(const std::string& checkpoint_dir,
                                  const InferenceModelOptions& options = {});

}  // namespace bagel
