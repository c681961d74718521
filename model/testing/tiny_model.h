// A tiny BAGEL and a hand-made packed batch for the model's unit tests (model/, model/lora/).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/bagel/packed_batch.h"
#include "model/config/presets.h"
#include "model/siglip/patch_embedding.h"

namespace bagel::testing {

inline std::shared_ptr<BagelForUnifiedMultimodal> Tiny(int stage, uint64_t seed = 1) {
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, stage);
  auto m = std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().dtype(at::kFloat));
  m->InitializeWeights(seed);
  return m;
}

// llm2vae starts at zero, which would block every gradient into the generation path.
inline std::shared_ptr<BagelForUnifiedMultimodal> TinyTrained(int stage) {
  auto m = Tiny(stage);
  at::NoGradGuard no_grad;
  at::manual_seed(0);
  m->model->llm2vae->weight.normal_(0.0, 0.05);
  return m;
}

// Two samples by hand (BAGEL.md §2.3 layout; tiny vocabulary specials 252..255):
//   sample 0: [bos 7 8 9 eos] causal | [vs v v v v ve] full (28x28 image) | [bos 5 6 eos] causal+CE
//   sample 1: [bos 3 4 eos] causal+CE | with_latent: [vs z z z z ve] noise (32x32 latent, MSE)
inline PackedBatch HandBatch(bool with_latent, at::Generator gen) {
  PackedBatch b;
  std::vector<int64_t> ids = {252, 7, 8, 9, 253, 254, 255, 252, 5, 6, 253, 252, 3, 4, 253};
  std::vector<int64_t> idx = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  std::vector<int64_t> pos = {0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 6, 7, 8, 9, 0, 1, 2, 3};
  b.sample_lens = {15, 4};
  b.split_lens = {5, 6, 4, 4};
  b.attn_modes = {AttnMode::kCausal, AttnMode::kFull, AttnMode::kCausal, AttnMode::kCausal};
  if (with_latent) {
    ids.push_back(254);
    idx.push_back(19);
    ids.push_back(255);
    idx.push_back(24);
    for (int i = 0; i < 6; ++i) pos.push_back(4);
    b.sample_lens[1] += 6;
    b.split_lens.push_back(6);
    b.attn_modes.push_back(AttnMode::kNoise);
    b.padded_latent = at::randn({1, 16, 4, 4}, gen, at::kFloat);
    b.patchified_vae_latent_shapes = {{2, 2}};
    b.packed_latent_position_ids = at::tensor({0, 1, 8, 9}, at::kLong);
    b.packed_vae_token_indexes = at::tensor({20, 21, 22, 23}, at::kLong);
    b.packed_timesteps = at::full({4}, 0.3f, at::kFloat);
    b.mse_loss_indexes = b.packed_vae_token_indexes;
    b.noise = at::randn({4, 64}, gen, at::kFloat);
  }
  b.sequence_length = static_cast<int64_t>(pos.size());
  b.packed_text_ids = at::tensor(ids, at::kLong);
  b.packed_text_indexes = at::tensor(idx, at::kLong);
  b.packed_position_ids = at::tensor(pos, at::kLong);
  b.packed_vit_tokens = Patchify(at::rand({3, 28, 28}, gen, at::kFloat) * 2 - 1, 14);
  b.packed_vit_token_indexes = at::tensor({6, 7, 8, 9}, at::kLong);
  b.packed_vit_position_ids = FlattenedPositionIdsExtrapolate(28, 28, 14, 70);
  b.vit_token_seqlens = {4};
  b.ce_loss_indexes = at::tensor({11, 12, 13, 15, 16, 17}, at::kLong);
  b.packed_label_ids = at::tensor({5, 6, 253, 3, 4, 253}, at::kLong);
  return b;
}

}  // namespace bagel::testing
