// Image generation by rectified flow (BAGEL.md §5.2, the official generate_image): Euler steps
// from pure noise at t = 1 to t = 0 over the shifted schedule t' = s t / (1 + (s - 1) t) of
// linspace(1, 0, num_timesteps), x -= v dt. Each step asks the language model (gen expert) for
// the velocity of the query [vision_start, h*w noisy latent tokens, vision_end] at the condition
// context's next position; inside cfg_interval (lo < t <= hi) it also asks the text-CFG context
// (text_scale > 1) and the image-CFG context (img_scale > 1) and combines them
// (cfg_guidance.h). The cache is never updated during denoising.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <optional>

#include "model/inference/cfg_guidance.h"
#include "model/inference/inference_model.h"

namespace bagel {

struct ImageGenerationOptions {
  int num_timesteps = 50;
  double timestep_shift = 3.0;
  double cfg_text_scale = 4.0;
  double cfg_img_scale = 1.5;
  double cfg_interval_lo = 0.4, cfg_interval_hi = 1.0;
  CfgRenormType cfg_renorm_type = CfgRenormType::kGlobal;
  double cfg_renorm_min = 0.0;
  // The starting noise [h*w, p*p*z] in packed latent-token order; drawn from `generator` (or
  // the default generator) when undefined.
  at::Tensor init_noise;
  std::optional<at::Generator> generator;
  // Called after each Euler step with (step, steps) counting from 1.
  std::function<void(int, int)> progress;
};

// The shifted timesteps [num_timesteps] (float32, from 1 down to 0).
at::Tensor ShiftedTimesteps(int num_timesteps, double shift);

// The three contexts of one generation (BAGEL.md §5.2: cond = everything, cfg_text = before the
// last text, cfg_img = text only).
struct GenerationContexts {
  InferenceContext cond, cfg_text, cfg_img;
};

// Returns the final packed latent [h*w, p*p*z] (float32) of an H x W image (H, W multiples of
// 16). Throws naming the option when a setting is invalid.
at::Tensor GenerateImageLatent(const InferenceModel& model, const GenerationContexts& contexts,
                               int64_t height, int64_t width,
                               const ImageGenerationOptions& options);

// The packed latent [h*w, p*p*z] -> the VAE latent [1, z, h p, w p] ((h, w, p, q, c) ->
// (c, h p, w q)).
at::Tensor UnpatchifyLatent(const at::Tensor& latent, int64_t h, int64_t w, int64_t patch,
                            int64_t channels);

// Decodes a packed latent to the image [3, H, W] (the VAE output, about [-1, 1]).
at::Tensor DecodeLatentImage(const InferenceModel& model, const at::Tensor& latent, int64_t height,
                             int64_t width);

// [3, H, W] in [-1, 1] -> [H, W, 3] uint8 as the official decode_image: (x * 0.5 + 0.5)
// clamped to [0, 1], times 255, truncated.
at::Tensor ImageToUint8(const at::Tensor& image);

}  // namespace bagel
