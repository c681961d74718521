#include "model/inference/context_prefill.h"

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include "model/inference/llm_query.h"
#include "model/siglip/patch_embedding.h"

namespace bagel {
namespace {

void CheckImage(const at::Tensor& image, int64_t stride, const char* what) {
  TORCH_CHECK(image.defined() && image.dim() == 3 && image.size(0) == 3, what,
              " image must be [3, H, W], got ",
              image.defined() ? image.sizes() : at::IntArrayRef{});
  TORCH_CHECK(image.size(1) % stride == 0 && image.size(2) % stride == 0 && image.size(1) > 0 &&
                  image.size(2) > 0,
              what, " image size ", image.size(1), "x", image.size(2),
              " is not a positive multiple of ", stride);
}

// [vision_start, block, vision_end] embeddings: [n + 2, hidden].
at::Tensor FramedBlock(const InferenceModel& model, const at::Tensor& block) {
  at::Tensor markers = model.Embed({model.tokens.start_of_image, model.tokens.end_of_image});
  return at::cat(
      {markers.narrow(0, 0, 1), block.to(markers.scalar_type()), markers.narrow(0, 1, 1)}, 0);
}

InferenceContext Appended(const InferenceContext& context, LlmQueryResult result, int64_t tokens,
                          int64_t rope_advance) {
  InferenceContext out;
  out.cache = std::move(result.cache);
  out.kv_len = context.kv_len + tokens;
  out.rope = context.rope + rope_advance;
  TORCH_INTERNAL_ASSERT(out.cache.length() == out.kv_len);
  return out;
}

at::Tensor Positions(const InferenceModel& model, int64_t start, int64_t count, bool same) {
  at::TensorOptions o = at::TensorOptions().dtype(at::kLong).device(model.device());
  return same ? at::full({count}, start, o) : at::arange(start, start + count, o);
}

}  // namespace

LatentBlockRows LatentBlock(int64_t n, const at::Device& device) {
  at::TensorOptions o = at::TensorOptions().dtype(at::kLong).device(device);
  return {at::tensor({int64_t{0}, n + 1}, at::kLong).to(device), at::arange(1, n + 1, o)};
}

at::Tensor LatentPositionIds(const InferenceModel& model, int64_t height, int64_t width) {
  const int64_t f = model.latent_downsample(), side = model.config().max_latent_size;
  TORCH_CHECK(height / f <= side && width / f <= side, "a ", width, "x", height, " image needs ",
              width / f, "x", height / f,
              " latent patches, more than the model's max_latent_size of ", side, " per side (",
              side * f, " pixels)");
  return FlattenedPositionIdsExtrapolate(height, width, f, side).to(model.device());
}

at::Tensor PatchifyLatent(const at::Tensor& latent, int64_t h, int64_t w, int64_t p) {
  const int64_t z = latent.size(1);
  return latent[0]
      .narrow(1, 0, h * p)
      .narrow(2, 0, w * p)
      .reshape({z, h, p, w, p})
      .permute({1, 3, 2, 4, 0})  // (h, w, p, q, c)
      .reshape({h * w, p * p * z});
}

InferenceContext PrefillText(const InferenceModel& model, const InferenceContext& context,
                             const std::vector<int64_t>& ids) {
  c10::InferenceMode guard;
  std::vector<int64_t> framed;
  framed.reserve(ids.size() + 2);
  framed.push_back(model.tokens.bos);
  framed.insert(framed.end(), ids.begin(), ids.end());
  framed.push_back(model.tokens.eos);
  const int64_t n = static_cast<int64_t>(framed.size());
  LlmQuery q;
  q.embeddings = model.Embed(framed);
  q.position_ids = Positions(model, context.rope, n, /*same=*/false);
  q.causal = true;
  return Appended(context, RunLlmQuery(model.lm(), model.config().llm, context.cache, q, true), n,
                  n);
}

InferenceContext PrefillVitImage(const InferenceModel& model, const InferenceContext& context,
                                 const at::Tensor& image) {
  c10::InferenceMode guard;
  const BagelConfig& c = model.config();
  TORCH_CHECK(c.visual_und && model.modules().vit_model, "the model has no ViT (visual_und off)");
  TORCH_CHECK(!c.interpolate_pos, "interpolate_pos position ids are not supported");
  const int64_t patch = c.vit.patch_size;
  CheckImage(image, patch, "ViT");
  const BagelModel& m = model.modules();
  at::Tensor pixels = Patchify(image.to(model.device(), model.dtype()), patch);  // [n, p*p*3]
  at::Tensor pos = FlattenedPositionIdsExtrapolate(image.size(1), image.size(2), patch,
                                                   c.vit_max_num_patch_per_side)
                       .to(model.device());
  const int64_t n = pixels.size(0);
  at::Tensor tokens = m.vit_model->Forward(pixels, pos, {n});
  tokens = m.connector->Forward(tokens) + m.vit_pos_embed->Forward(pos);
  LlmQuery q;
  q.embeddings = FramedBlock(model, tokens);
  q.position_ids = Positions(model, context.rope, n + 2, /*same=*/true);
  q.causal = false;
  return Appended(context, RunLlmQuery(model.lm(), c.llm, context.cache, q, true), n + 2, 1);
}

InferenceContext PrefillVaeImage(const InferenceModel& model, const InferenceContext& context,
                                 const at::Tensor& image, const VaePosteriorOptions& posterior) {
  c10::InferenceMode guard;
  const BagelConfig& c = model.config();
  TORCH_CHECK(c.visual_gen, "VAE image context needs a Stage 2 model (visual_gen)");
  const vae::FluxVae& vae = model.RequireVae("a VAE image segment");
  const int64_t f = model.latent_downsample(), p = c.latent_patch_size;
  CheckImage(image, f, "VAE");
  const int64_t h = image.size(1) / f, w = image.size(2) / f, n = h * w;
  at::Tensor positions = LatentPositionIds(model, image.size(1), image.size(2));
  vae::VaeEncodeOptions encode;
  encode.sample = posterior.sample;
  encode.noise = posterior.noise;
  encode.generator = posterior.generator;
  at::Tensor padded = vae::PadImageBatch({image.to(model.device(), at::kFloat)});
  at::Tensor latent = PatchifyLatent(vae.Encode(padded, encode), h, w, p);  // [n, p*p*z]
  const BagelModel& m = model.modules();
  at::Tensor t0 = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(model.device()));
  at::Tensor tokens = m.vae2llm->Forward(latent.to(model.dtype())) +
                      m.time_embedder->Forward(t0).to(model.dtype()) +
                      m.latent_pos_embed->Forward(positions);
  LlmQuery q;
  q.embeddings = FramedBlock(model, tokens);
  q.position_ids = Positions(model, context.rope, n + 2, /*same=*/true);
  q.causal = false;
  q.mode = ExpertMode::kGeneration;
  LatentBlockRows rows = LatentBlock(n, model.device());
  q.und_rows = rows.und;
  q.gen_rows = rows.gen;
  return Appended(context, RunLlmQuery(model.lm(), c.llm, context.cache, q, true), n + 2, 1);
}

}  // namespace bagel
