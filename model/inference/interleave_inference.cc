#include "model/inference/interleave_inference.h"

#include <c10/util/Exception.h>

namespace bagel {

InterleaveResult InterleaveInference(const InferenceModel& model,
                                     const std::vector<InterleaveInput>& inputs,
                                     const InterleaveOptions& o) {
  TORCH_CHECK(!inputs.empty(), "inference needs at least one input (text or image)");
  GenerationContexts ctx;  // cond, cfg_text, cfg_img: all empty
  InterleaveResult result;
  result.height = o.image_height;
  result.width = o.image_width;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InterleaveInput& in = inputs[i];
    if (!in.is_image()) {
      ctx.cfg_text = ctx.cond;
      ctx.cond = PrefillText(model, ctx.cond, in.text_ids);
      ctx.cfg_img = PrefillText(model, ctx.cfg_img, in.text_ids);
      continue;
    }
    TORCH_CHECK(in.vit_image.defined(), "input ", i, ": an image needs its ViT copy");
    if (!o.understanding_output) {
      TORCH_CHECK(in.vae_image.defined(), "input ", i,
                  ": generation and editing need the image's VAE copy");
      VaePosteriorOptions posterior;
      posterior.noise = in.vae_posterior_noise;
      posterior.generator = o.vae_generator;
      ctx.cond = PrefillVaeImage(model, ctx.cond, in.vae_image, posterior);
      result.height = in.vae_image.size(1);
      result.width = in.vae_image.size(2);
    } else if (in.vae_image.defined()) {
      result.height = in.vae_image.size(1);
      result.width = in.vae_image.size(2);
    }
    ctx.cond = PrefillVitImage(model, ctx.cond, in.vit_image);
    ctx.cfg_text = ctx.cond;
  }
  if (o.understanding_output) {
    result.text = GenerateText(model, ctx.cond, o.text);
    return result;
  }
  result.latent = GenerateImageLatent(model, ctx, result.height, result.width, o.image);
  if (model.vae)
    result.image = DecodeLatentImage(model, result.latent, result.height, result.width);
  return result;
}

}  // namespace bagel
