// The official inference call sequence (InterleaveInferencer.interleave_inference, BAGEL.md §5)
// over a list of inputs -- texts (token ids) and images -- ending in either text (understanding)
// or an image (generation, editing):
//
//   text:  cfg_text <- cond (copied just before the text); cond += text; cfg_img += text
//   image: cond += VAE image (unless understanding) then ViT image; cfg_text <- cond;
//          the output size becomes the image's
//
// so for generation cfg_text is everything before the last text and cfg_img holds the texts
// only. Images are given already transformed (image_transform.h): the VAE copy at a multiple of
// 16 and the ViT copy at a multiple of 14, both [3, H, W] in [-1, 1].
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/inference/context_prefill.h"
#include "model/inference/image_generation.h"
#include "model/inference/text_generation.h"

namespace bagel {

struct InterleaveInput {
  std::vector<int64_t> text_ids;   // a text segment (without bos/eos), or
  at::Tensor vae_image;            // an image: the VAE copy (generation/editing only) ...
  at::Tensor vit_image;            // ... and the ViT copy
  at::Tensor vae_posterior_noise;  // optional injected posterior noise [1, z, H/8, W/8]

  static InterleaveInput Text(std::vector<int64_t> ids) { return {std::move(ids), {}, {}, {}}; }
  static InterleaveInput Image(at::Tensor vae, at::Tensor vit) {
    return {{}, std::move(vae), std::move(vit), {}};
  }
  bool is_image() const { return vae_image.defined() || vit_image.defined(); }
};

struct InterleaveOptions {
  bool understanding_output = false;  // true: answer with text; false: generate an image
  TextGenerationOptions text;
  ImageGenerationOptions image;
  // Output size when no input image sets it (the official default 1024 x 1024).
  int64_t image_height = 1024, image_width = 1024;
  // Draws VAE posterior noise when an input does not inject it.
  std::optional<at::Generator> vae_generator;
};

struct InterleaveResult {
  TextGenerationResult text;  // understanding
  at::Tensor latent;          // generation: the final packed latent [h*w, p*p*z]
  at::Tensor image;           // generation: the decoded image [3, H, W] (undefined without VAE)
  int64_t height = 0, width = 0;
};

InterleaveResult InterleaveInference(const InferenceModel& model,
                                     const std::vector<InterleaveInput>& inputs,
                                     const InterleaveOptions& options);

}  // namespace bagel
