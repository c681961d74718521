#include "bench/bench_batches.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include "worker/data/sequence_packer.h"
#include "worker/data/synthetic_samples.h"

namespace bagel::bench {

PackedBatch BenchBatch(const std::string& name, int stage, const BagelConfig& config,
                       uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  data::PackerConfig pc;
  pc.max_latent_size = config.max_latent_size;
  data::SpecialTokens tokens;
  std::vector<data::Sample> samples;
  if (name == "tiny") {
    tokens = {252, 253, 254, 255};
    const std::vector<std::string> kinds = stage == 1
                                               ? std::vector<std::string>{"text", "vlm2", "vlm"}
                                               : std::vector<std::string>{"vlm", "t2i", "edit"};
    for (const auto& k : kinds) samples.push_back(data::TinySample(k, 250, gen));
  } else if (name == "small") {
    const std::vector<std::string> kinds =
        stage == 1 ? std::vector<std::string>{"vlm", "vlm", "vlm", "vlm"}
                   : std::vector<std::string>{"vlm", "vlm", "t2i", "t2i"};
    for (const auto& k : kinds) samples.push_back(data::SmallSample(k, 151643, gen));
  } else if (name == "medium") {
    // ~16k tokens: VLM samples with a 448x448 image (1,024 patches, ~1.26k tokens each) and, in
    // Stage 2, 8 T2I samples at 512x512 (1,024 latents, ~1.06k tokens each) for about half.
    const int vlm = stage == 1 ? 13 : 6, t2i = stage == 1 ? 0 : 8;
    for (int i = 0; i < vlm; ++i) {
      data::Sample s = data::SmallSample("vlm", 151643, gen);
      s.images[0] = at::rand({3, 448, 448}, gen, at::kFloat) * 2 - 1;
      samples.push_back(std::move(s));
    }
    for (int i = 0; i < t2i; ++i) {
      data::Sample s = data::SmallSample("t2i", 151643, gen);
      s.images[0] = at::rand({3, 512, 512}, gen, at::kFloat) * 2 - 1;
      samples.push_back(std::move(s));
    }
  } else {
    TORCH_CHECK(false, "--config must be tiny, small or medium, got '", name, "'");
  }
  data::SequencePacker packer(pc, tokens);
  data::PackRandomness random{[&] { return at::rand({1}, gen).item<double>(); },
                              [&] { return at::randn({1}, gen).item<double>(); }};
  for (const auto& s : samples) packer.Add(s, random);
  data::PackedSequence packed = packer.Finish();
  PackedBatch b = packed.batch;
  if (stage == 2 && packed.padded_images.defined()) {
    const int64_t down = config.vae.downsample;
    b.padded_latent =
        at::randn({packed.padded_images.size(0), config.vae.z_channels,
                   packed.padded_images.size(2) / down, packed.padded_images.size(3) / down},
                  gen, at::kFloat);
    b.noise =
        at::randn({b.packed_vae_token_indexes.numel(), config.patch_latent_dim()}, gen, at::kFloat);
  } else {
    // Stage 1 has no generation branch: drop the latent fields a Stage 2 layout would carry.
    b.patchified_vae_latent_shapes.clear();
  }
  return b;
}

}  // namespace bagel::bench
