#include "model/inference/image_generation.h"

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include "model/inference/context_prefill.h"
#include "model/inference/llm_query.h"

namespace bagel {

at::Tensor ShiftedTimesteps(int num_timesteps, double shift) {
  at::Tensor t = at::linspace(1, 0, num_timesteps, at::TensorOptions().dtype(at::kFloat));
  return shift * t / (1 + (shift - 1) * t);
}

at::Tensor GenerateImageLatent(const InferenceModel& model, const GenerationContexts& contexts,
                               int64_t height, int64_t width, const ImageGenerationOptions& o) {
  c10::InferenceMode guard;
  const BagelConfig& c = model.config();
  TORCH_CHECK(c.visual_gen, "image generation needs a Stage 2 model (visual_gen)");
  TORCH_CHECK(o.num_timesteps >= 2, "num_timesteps must be at least 2, got ", o.num_timesteps);
  TORCH_CHECK(o.timestep_shift > 0, "timestep_shift must be positive, got ", o.timestep_shift);
  const int64_t f = model.latent_downsample();
  TORCH_CHECK(height > 0 && width > 0 && height % f == 0 && width % f == 0, "image size ", height,
              "x", width, " is not a positive multiple of ", f);
  const int64_t h = height / f, w = width / f, n = h * w, dim = c.patch_latent_dim();
  const at::Device device = model.device();
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(device);

  at::Tensor x;
  if (o.init_noise.defined()) {
    TORCH_CHECK(o.init_noise.dim() == 2 && o.init_noise.size(0) == n && o.init_noise.size(1) == dim,
                "init_noise has shape ", o.init_noise.sizes(), " but a ", height, "x", width,
                " image needs [", n, ", ", dim, "]");
    x = o.init_noise.to(f32);
  } else {
    x = at::randn({n, dim}, o.generator, at::TensorOptions().dtype(at::kFloat)).to(device);
  }

  const BagelModel& m = model.modules();
  // What every pass shares: the markers, the latent positions and the expert rows.
  at::Tensor markers = model.Embed({model.tokens.start_of_image, model.tokens.end_of_image});
  at::Tensor pos_embed = m.latent_pos_embed->Forward(LatentPositionIds(model, height, width));
  const LatentBlockRows rows = LatentBlock(n, device);
  auto velocity = [&](const at::Tensor& query_embeddings, const InferenceContext& ctx) {
    LlmQuery q;
    q.embeddings = query_embeddings;
    q.position_ids =
        at::full({n + 2}, ctx.rope, at::TensorOptions().dtype(at::kLong).device(device));
    q.causal = false;
    q.mode = ExpertMode::kGeneration;
    q.und_rows = rows.und;
    q.gen_rows = rows.gen;
    at::Tensor hidden = RunLlmQuery(model.lm(), c.llm, ctx.cache, q, false).hidden;
    return m.llm2vae->Forward(hidden.index_select(0, rows.gen)).to(at::kFloat);  // [n, dim]
  };

  const at::Tensor ts = ShiftedTimesteps(o.num_timesteps, o.timestep_shift);
  const at::Tensor dts =
      ts.narrow(0, 0, o.num_timesteps - 1) - ts.narrow(0, 1, o.num_timesteps - 1);
  const int steps = o.num_timesteps - 1;
  CfgCombineOptions combine;
  combine.renorm = o.cfg_renorm_type;
  combine.renorm_min = o.cfg_renorm_min;
  for (int i = 0; i < steps; ++i) {
    const at::Tensor t = ts[i];
    // The interval test compares in float32, as the official tensor comparison does.
    const float tf = t.item<float>();
    const bool use_cfg =
        tf > static_cast<float>(o.cfg_interval_lo) && tf <= static_cast<float>(o.cfg_interval_hi);
    combine.text_scale = use_cfg ? o.cfg_text_scale : 1.0;
    combine.img_scale = use_cfg ? o.cfg_img_scale : 1.0;

    at::Tensor temb = m.time_embedder->Forward(t.reshape({1}).to(device));  // [1, hidden]
    at::Tensor latents =
        m.vae2llm->Forward(x.to(model.dtype())) + temb.to(model.dtype()) + pos_embed;
    at::Tensor query = at::cat({markers.narrow(0, 0, 1), latents, markers.narrow(0, 1, 1)}, 0);

    at::Tensor v = velocity(query, contexts.cond);
    at::Tensor v_text, v_img;
    // The image-CFG velocity only matters under text CFG (the official code discards it
    // otherwise), so it is computed only then.
    if (combine.text_scale > 1.0) {
      v_text = velocity(query, contexts.cfg_text);
      if (combine.img_scale > 1.0) v_img = velocity(query, contexts.cfg_img);
    }
    v = CombineCfgVelocity(v, v_text, v_img, combine);
    x = x - v * dts[i].to(device);
    if (o.progress) o.progress(i + 1, steps);
  }
  return x;
}

at::Tensor UnpatchifyLatent(const at::Tensor& latent, int64_t h, int64_t w, int64_t p,
                            int64_t channels) {
  TORCH_CHECK(latent.dim() == 2 && latent.size(0) == h * w && latent.size(1) == p * p * channels,
              "packed latent has shape ", latent.sizes(), ", expected [", h * w, ", ",
              p * p * channels, "]");
  return latent.reshape({1, h, w, p, p, channels})
      .permute({0, 5, 1, 3, 2, 4})  // (n, c, h, p, w, q)
      .reshape({1, channels, h * p, w * p});
}

at::Tensor DecodeLatentImage(const InferenceModel& model, const at::Tensor& latent, int64_t height,
                             int64_t width) {
  c10::InferenceMode guard;
  const vae::FluxVae& vae = model.RequireVae("decoding a generated image");
  const int64_t f = model.latent_downsample();
  at::Tensor z = UnpatchifyLatent(latent, height / f, width / f, model.config().latent_patch_size,
                                  model.config().vae.z_channels);
  return vae.Decode(z)[0];
}

at::Tensor ImageToUint8(const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3, "image must be [3, H, W], got ",
              image.sizes());
  at::Tensor x = (image.to(at::kCPU, at::kFloat) * 0.5 + 0.5).clamp(0, 1) * 255;
  return x.permute({1, 2, 0}).to(at::kByte).contiguous();
}

}  // namespace bagel
