// Generated samples for tests, benchmarks and the demo: the sample kinds of the reference cases
// (text, vlm, vlm2, t2i, edit) at the tiny sizes, and BENCH.md's small-config samples, with
// random text ids and random images in [-1, 1].
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "worker/data/sequence_plan.h"

namespace bagel::data {

// Kinds: "text" (one text item with loss), "vlm" (text, ViT image, text, text with loss),
// "vlm2" (two images), "t2i" (caption with CFG, noised VAE image), "edit" (clean VAE + ViT
// source, instruction, noised target) -- BAGEL.md §2.3's layouts at the golden cases' sizes.
Sample TinySample(const std::string& kind, int64_t vocab_for_text, at::Generator& gen);

// BENCH.md small: "vlm" = 32 text tokens (no loss), one 224x224 ViT image, 200 text tokens
// with loss; "t2i" = 32 text tokens (CFG) and one 256x256 noised VAE image.
Sample SmallSample(const std::string& kind, int64_t vocab_for_text, at::Generator& gen);

}  // namespace bagel::data
