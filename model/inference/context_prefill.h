// The context segments of KV-cache inference (BAGEL.md §5.1), each appended to a context with
// one language-model pass that updates the cache:
//
//   text   [bos, ids..., eos] at consecutive positions from rope; causal; und expert;
//          rope += length.
//   ViT    [vision_start, SigLIP tokens, vision_end], all at position rope; full attention;
//          und expert; rope += 1. Tokens: connector(SigLIP(patches)) + vit_pos_embed.
//   VAE    [vision_start, h*w clean latents, vision_end], all at position rope; full attention;
//          gen expert for the latents, und for the markers; rope += 1. Latents: the VAE
//          posterior sample of the image, cropped and patchified, vae2llm + time_embedder(0) +
//          latent_pos_embed.
//
// Images are [3, H, W] tensors in [-1, 1] at their final size (the resize transforms are the
// caller's): multiples of the ViT patch (14) for ViT segments, of 16 for VAE segments.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "model/inference/inference_model.h"

namespace bagel {

// How a VAE segment encodes its image: posterior sample with injected noise [1, z, H/8, W/8],
// or drawn from `generator`; or the mean with sample = false.
struct VaePosteriorOptions {
  bool sample = true;
  at::Tensor noise;
  std::optional<at::Generator> generator;
};

InferenceContext PrefillText(const InferenceModel& model, const InferenceContext& context,
                             const std::vector<int64_t>& ids);

InferenceContext PrefillVitImage(const InferenceModel& model, const InferenceContext& context,
                                 const at::Tensor& image);

InferenceContext PrefillVaeImage(const InferenceModel& model, const InferenceContext& context,
                                 const at::Tensor& image,
                                 const VaePosteriorOptions& posterior = {});

// [vision_start, latent tokens, vision_end] rows: und = {0, n + 1}, gen = 1..n (int64, on device).
struct LatentBlockRows {
  at::Tensor und, gen;
};
LatentBlockRows LatentBlock(int64_t num_latent_tokens, const at::Device& device);

// The latent position ids of an H x W image: row * max_latent_size + col over its
// (H / 16) x (W / 16) latent patches (extrapolate mode).
at::Tensor LatentPositionIds(const InferenceModel& model, int64_t height, int64_t width);

// latent [B, z, H/8, W/8] of one image (index 0), cropped to (h p, w p) and patchified
// (h, w, p, q, c) -> [h * w, p * p * z].
at::Tensor PatchifyLatent(const at::Tensor& latent, int64_t h, int64_t w, int64_t patch);

}  // namespace bagel
