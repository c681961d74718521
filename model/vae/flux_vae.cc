#include "model/vae/flux_vae.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <set>

namespace bagel::vae {

FluxVae::FluxVae(const FluxVaeParams& params, const at::TensorOptions& options) : params_(params) {
  params_.Validate();
  encoder = register_module("encoder", std::make_shared<FluxEncoder>(params_, options));
  decoder = register_module("decoder", std::make_shared<FluxDecoder>(params_, options));
}

std::shared_ptr<FluxVae> FluxVae::Load(const std::string& path, const at::TensorOptions& options) {
  auto file = io::SafetensorsFile::Open(path);
  auto vae = std::make_shared<FluxVae>(InferFluxVaeParams(*file), options);
  auto params = vae->named_parameters(/*recurse=*/true);
  std::set<std::string> expected;
  for (const auto& item : params) expected.insert(item.key());
  for (const auto& [name, entry] : file->entries()) {
    TORCH_CHECK(expected.count(name), path, ": unexpected key '", name, "' for a FLUX VAE of ",
                vae->params().Describe());
  }
  at::NoGradGuard no_grad;
  for (const auto& item : params) {
    const std::string& name = item.key();
    TORCH_CHECK(file->Contains(name), path, ": missing key '", name, "' for a FLUX VAE of ",
                vae->params().Describe());
    const io::SafetensorsEntry& entry = file->Entry(name);
    TORCH_CHECK(at::IntArrayRef(entry.shape) == item.value().sizes(), path, ": tensor '", name,
                "' has shape ", at::IntArrayRef(entry.shape), " but the VAE (",
                vae->params().Describe(), ") expects ", item.value().sizes());
    item.value().copy_(file->View(name));
  }
  vae->eval();
  return vae;
}

at::Tensor FluxVae::EncodeMoments(const at::Tensor& images) const {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == params_.in_channels,
              "VAE encode: images must be [B, ", params_.in_channels, ", H, W], got ",
              images.sizes());
  const int64_t f = params_.downsample();
  TORCH_CHECK(images.size(2) % f == 0 && images.size(3) % f == 0, "VAE encode: image size ",
              images.size(2), "x", images.size(3), " is not a multiple of ", f);
  return encoder->Forward(images.to(encoder->conv_in->weight.options()));
}

at::Tensor FluxVae::Encode(const at::Tensor& images, const VaeEncodeOptions& options) const {
  at::Tensor moments = EncodeMoments(images);
  at::Tensor z;
  if (options.sample) {
    at::Tensor mean = moments.chunk(2, 1)[0];
    at::Tensor noise = options.noise;
    if (noise.defined()) {
      TORCH_CHECK(noise.sizes() == mean.sizes(), "VAE posterior noise has shape ", noise.sizes(),
                  " but the latent is ", mean.sizes());
      noise = noise.to(mean.options());
    } else {
      noise = at::randn(mean.sizes(), options.generator, mean.options());
    }
    z = SamplePosterior(moments, noise);
  } else {
    z = moments.chunk(2, 1)[0];
  }
  return params_.scale_factor * (z - params_.shift_factor);
}

at::Tensor FluxVae::EncodeMean(const at::Tensor& images) const {
  VaeEncodeOptions mean_only;
  mean_only.sample = false;
  return Encode(images, mean_only);
}

at::Tensor FluxVae::Decode(const at::Tensor& latents) const {
  TORCH_CHECK(latents.dim() == 4 && latents.size(1) == params_.z_channels,
              "VAE decode: latents must be [B, ", params_.z_channels, ", h, w], got ",
              latents.sizes());
  at::Tensor z = latents.to(decoder->conv_in->weight.options());
  return decoder->Forward(z / params_.scale_factor + params_.shift_factor);
}

void FluxVae::InitializeRandom(uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& item : named_parameters(/*recurse=*/true)) {
    at::Tensor& p = item.value();
    const std::string& name = item.key();
    at::Tensor value;
    if (p.dim() > 1) {
      value = at::randn(p.sizes(), gen, at::kFloat) / std::sqrt(static_cast<double>(p[0].numel()));
    } else if (name.find("norm") != std::string::npos && name.size() >= 6 &&
               name.compare(name.size() - 6, 6, "weight") == 0) {
      value = 1.0 + 0.1 * at::randn(p.sizes(), gen, at::kFloat);
    } else {
      value = 0.02 * at::randn(p.sizes(), gen, at::kFloat);
    }
    p.copy_(value);
  }
}

void FluxVae::UseComputeDtype(at::ScalarType dtype) {
  at::NoGradGuard no_grad;
  for (const auto& module : modules(/*include_self=*/false)) {
    auto* conv = dynamic_cast<Conv2d*>(module.get());
    if (conv == nullptr) continue;
    conv->weight.set_data(conv->weight.to(dtype));
    conv->bias.set_data(conv->bias.to(dtype));
  }
}

at::Tensor SamplePosterior(const at::Tensor& moments, const at::Tensor& noise) {
  auto parts = moments.chunk(2, 1);
  // exp in float32 (autocast's rule), so a bf16 encoder gives a float32 sample.
  at::Tensor std = at::exp(0.5 * parts[1].to(at::kFloat));
  return parts[0] + std * noise;
}

at::Tensor PadImageBatch(const std::vector<at::Tensor>& images) {
  TORCH_CHECK(!images.empty(), "PadImageBatch: no images");
  int64_t c = images[0].size(0), h = 0, w = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    TORCH_CHECK(images[i].dim() == 3 && images[i].size(0) == c, "image ", i, " must be [", c,
                ", H, W], got ", images[i].sizes());
    h = std::max(h, images[i].size(1));
    w = std::max(w, images[i].size(2));
  }
  at::Tensor out = at::zeros({static_cast<int64_t>(images.size()), c, h, w}, images[0].options());
  for (size_t i = 0; i < images.size(); ++i) {
    out[i].narrow(1, 0, images[i].size(1)).narrow(2, 0, images[i].size(2)).copy_(images[i]);
  }
  return out;
}

}  // namespace bagel::vae
