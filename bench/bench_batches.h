// The benchmark batches of docs/BENCHMARKS.md, with random data of the stated shapes:
//   tiny:  the stage1-mixed (text, vlm2, vlm) and stage2-mixed (vlm, t2i, edit) layouts;
//   small: Stage 1 = 4 VLM samples (32 text, a 224x224 image, 200 text with loss);
//          Stage 2 = 2 such VLM samples and 2 T2I samples (32 text with CFG, a 256x256 image);
//   medium: ~16,384 tokens, half VLM, half T2I at 512x512.
// Stage 2 batches carry a random padded_latent (the VAE is not in the timed step) and noise.
#pragma once

#include <string>

#include "model/bagel/packed_batch.h"
#include "model/config/bagel_config.h"

namespace bagel::bench {

PackedBatch BenchBatch(const std::string& config_name, int stage, const BagelConfig& config,
                       uint64_t seed);

}  // namespace bagel::bench
