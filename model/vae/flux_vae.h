// FluxVae: the FLUX autoencoder BAGEL encodes images with and decodes generated latents with
// (BAGEL.md §1.4). It is not part of the BAGEL checkpoint: it loads from ae.safetensors, whose
// shape is inferred from the tensors (FluxVaeParams), with strict keys.
//
// Latents live in the scaled space z = scale * (x - shift) (scale 0.3611, shift 0.1159): Encode
// returns that space and Decode takes it. Encode samples the diagonal-Gaussian posterior
// (mean + exp(logvar / 2) * noise) as the official code does in training and inference; the
// noise comes from a seeded generator or is injected; `sample = false` gives the mean.
//
// Training encodes a zero-padded batch (PadImageBatch) and crops each latent afterwards, so the
// borders of smaller images see padding through the receptive field exactly as there.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <optional>
#include <string>
#include <vector>

#include "model/vae/flux_decoder.h"
#include "model/vae/flux_encoder.h"
#include "model/vae/flux_vae_params.h"

namespace bagel::vae {

struct VaeEncodeOptions {
  bool sample = true;  // false: the posterior mean
  // Standard-normal noise [B, z, h, w] for the posterior sample; drawn from `generator` (or
  // the default generator) when undefined.
  at::Tensor noise;
  std::optional<at::Generator> generator;
};

class FluxVae : public torch::nn::Module {
 public:
  FluxVae(const FluxVaeParams& params, const at::TensorOptions& options);

  // Loads ae.safetensors: infers the shape, then requires the file's keys to be exactly the
  // module's (errors name the first missing or unexpected key, and any shape mismatch).
  // Tensors are converted to `options`' dtype and device.
  static std::shared_ptr<FluxVae> Load(const std::string& path,
                                       const at::TensorOptions& options = at::kFloat);

  // images [B, C, H, W] in [-1, 1] -> the encoder's moments [B, 2 z, H / 8, W / 8].
  at::Tensor EncodeMoments(const at::Tensor& images) const;
  // images -> scaled latents [B, z, H / 8, W / 8] (posterior sample or mean, see options).
  at::Tensor Encode(const at::Tensor& images, const VaeEncodeOptions& options = {}) const;
  // scale * (mean - shift): the posterior mean in the scaled space.
  at::Tensor EncodeMean(const at::Tensor& images) const;
  // Scaled latents [B, z, h, w] -> images [B, out_channels, 8 h, 8 w] (about [-1, 1]).
  at::Tensor Decode(const at::Tensor& latents) const;

  // Fills every parameter from `seed` (normal / sqrt(fan_in) weights, small biases, GroupNorm
  // weights near 1): a VAE of the right shape for benchmarks and tests, not a trained one.
  void InitializeRandom(uint64_t seed);
  // bf16 autocast without autocast: the convolutions' weights become `dtype` (their inputs are
  // cast to it), group norms stay float32 and the posterior is sampled in float32, as the
  // official trainer encodes under torch.autocast(bfloat16). (Converting back to kFloat keeps
  // the bf16-rounded values.)
  void UseComputeDtype(at::ScalarType dtype);

  const FluxVaeParams& params() const { return params_; }

  std::shared_ptr<FluxEncoder> encoder;
  std::shared_ptr<FluxDecoder> decoder;

 private:
  FluxVaeParams params_;
};

// The posterior sample of `moments` [B, 2 z, h, w]: mean + exp(logvar / 2) * noise, unscaled.
at::Tensor SamplePosterior(const at::Tensor& moments, const at::Tensor& noise);

// Zero-pads images [C, H_i, W_i] to one batch [B, C, max H, max W] (top-left aligned).
at::Tensor PadImageBatch(const std::vector<at::Tensor>& images);

}  // namespace bagel::vae
