// Packing outputs per sample type against layouts worked out by hand from BAGEL.md §2.3, and
// the CFG dropout frequencies of §3.4.
#include <gtest/gtest.h>

#include "worker/data/datasets/counter_rng.h"
#include "worker/data/sequence_packer.h"

namespace bagel::data {
namespace {

const SpecialTokens kTok{100, 101, 102, 103};

std::vector<int64_t> Vec(const at::Tensor& t) {
  at::Tensor l = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

PackRandomness NoDrop() {
  return {[] { return 0.99; }, [] { return 0.5; }};
}

PlanItem Item(PlanItemType t, bool cfg, bool loss) { return {t, cfg, loss}; }

// VLM: [text no loss] [vit 28x28 = 4 patches] [text with loss].
//   tokens: bos 7 8 eos | vs p p p p ve | bos 9 eos          = 4 + 6 + 3 = 13
//   rope:   0 1 2 3     | 4 4 4 4 4 4   | 5 6 7
//   labels: on the last text's bos and 9: 9, eos (positions 10, 11)
TEST(PackingLayout, Vlm) {
  SequencePacker p({}, kTok);
  Sample s;
  s.plan = {Item(PlanItemType::kText, false, false), Item(PlanItemType::kVitImage, false, false),
            Item(PlanItemType::kText, false, true)};
  s.text_ids = {{7, 8}, {9}};
  s.images = {at::zeros({3, 28, 28})};
  p.Add(s, NoDrop());
  const PackedSequence out = p.Finish();
  const PackedBatch& b = out.batch;
  EXPECT_EQ(b.sequence_length, 13);
  EXPECT_EQ(Vec(b.packed_position_ids),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 5, 6, 7}));
  EXPECT_EQ(Vec(b.packed_text_ids), (std::vector<int64_t>{100, 7, 8, 101, 102, 103, 100, 9, 101}));
  EXPECT_EQ(Vec(b.packed_text_indexes), (std::vector<int64_t>{0, 1, 2, 3, 4, 9, 10, 11, 12}));
  EXPECT_EQ(Vec(b.packed_vit_token_indexes), (std::vector<int64_t>{5, 6, 7, 8}));
  EXPECT_EQ(Vec(b.packed_vit_position_ids), (std::vector<int64_t>{0, 1, 70, 71}));
  EXPECT_EQ(Vec(b.ce_loss_indexes), (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(Vec(b.packed_label_ids), (std::vector<int64_t>{9, 101}));
  EXPECT_EQ(b.split_lens, (std::vector<int64_t>{4, 6, 3}));
  EXPECT_EQ(b.attn_modes,
            (std::vector<AttnMode>{AttnMode::kCausal, AttnMode::kFull, AttnMode::kCausal}));
}

// T2I: [caption, cfg] [vae 32x48 noised: 2x3 = 6 latents].
//   tokens: bos 5 eos | vs l*6 ve  = 3 + 8 = 11; rope 0 1 2 | 3 (x8); the noised image does not
//   advance the rope; modes causal, noise; mse on the 6 latents (positions 4..9).
TEST(PackingLayout, T2i) {
  SequencePacker p({}, kTok);
  Sample s;
  s.plan = {Item(PlanItemType::kText, true, false), Item(PlanItemType::kVaeImage, false, true)};
  s.text_ids = {{5}};
  s.images = {at::zeros({3, 32, 48})};
  p.Add(s, NoDrop());
  const PackedSequence out = p.Finish();
  const PackedBatch& b = out.batch;
  EXPECT_EQ(b.sequence_length, 11);
  EXPECT_EQ(Vec(b.packed_position_ids), (std::vector<int64_t>{0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3}));
  EXPECT_EQ(Vec(b.mse_loss_indexes), (std::vector<int64_t>{4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(Vec(b.packed_vae_token_indexes), (std::vector<int64_t>{4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(b.patchified_vae_latent_shapes, (std::vector<std::pair<int64_t, int64_t>>{{2, 3}}));
  // latent position ids: row * max_latent_size(32) + col
  EXPECT_EQ(Vec(b.packed_latent_position_ids), (std::vector<int64_t>{0, 1, 2, 32, 33, 34}));
  EXPECT_EQ(b.attn_modes, (std::vector<AttnMode>{AttnMode::kCausal, AttnMode::kNoise}));
  EXPECT_FLOAT_EQ(b.packed_timesteps[0].item<float>(), 0.5f);
  EXPECT_EQ(out.padded_images.sizes(), (at::IntArrayRef{1, 3, 32, 48}));
  EXPECT_FALSE(b.ce_loss_indexes.defined() && b.ce_loss_indexes.numel() > 0);
}

// Edit: [vae 16x16 clean, cfg] [vit 14x14, cfg] [text, cfg] [vae 16x16 noised].
//   tokens: vs l ve | vs p ve | bos 6 eos | vs l ve = 12; rope 0 0 0 | 1 1 1 | 2 3 4 | 5 5 5
//   clean latent timestep -inf, noised one drawn; modes full full causal noise.
TEST(PackingLayout, Edit) {
  SequencePacker p({}, kTok);
  Sample s;
  s.plan = {Item(PlanItemType::kVaeImage, true, false), Item(PlanItemType::kVitImage, true, false),
            Item(PlanItemType::kText, true, false), Item(PlanItemType::kVaeImage, false, true)};
  s.text_ids = {{6}};
  s.images = {at::zeros({3, 16, 16}), at::zeros({3, 14, 14}), at::zeros({3, 16, 16})};
  p.Add(s, NoDrop());
  const PackedSequence out = p.Finish();
  const PackedBatch& b = out.batch;
  EXPECT_EQ(b.sequence_length, 12);
  EXPECT_EQ(Vec(b.packed_position_ids), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 3, 4, 5, 5, 5}));
  EXPECT_EQ(Vec(b.packed_vae_token_indexes), (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(Vec(b.mse_loss_indexes), (std::vector<int64_t>{10}));
  EXPECT_TRUE(std::isinf(b.packed_timesteps[0].item<float>()));
  EXPECT_FLOAT_EQ(b.packed_timesteps[1].item<float>(), 0.5f);
  EXPECT_EQ(b.attn_modes, (std::vector<AttnMode>{AttnMode::kFull, AttnMode::kFull,
                                                 AttnMode::kCausal, AttnMode::kNoise}));
  EXPECT_EQ(b.split_lens, (std::vector<int64_t>{3, 3, 3, 3}));
}

// Each CFG-droppable item is dropped with its probability (text 0.1, vit 0.3, vae 0.3, the
// training script's values), independently; items without enable_cfg never are.
TEST(PackingLayout, CfgDropoutFrequencies) {
  PackerConfig config;
  config.text_cond_dropout_prob = 0.1;
  config.vit_cond_dropout_prob = 0.3;
  config.vae_cond_dropout_prob = 0.3;
  Sample s;
  s.plan = {Item(PlanItemType::kVaeImage, true, false), Item(PlanItemType::kVitImage, true, false),
            Item(PlanItemType::kText, true, false), Item(PlanItemType::kText, false, true),
            Item(PlanItemType::kVaeImage, false, true)};
  s.text_ids = {{6}, {7}};
  s.images = {at::zeros({3, 16, 16}), at::zeros({3, 14, 14}), at::zeros({3, 16, 16})};
  CounterRng rng(11);
  PackRandomness random{[&] { return rng.Uniform(); }, [&] { return rng.Normal(); }};
  const int n = 4000;
  int text = 0, vit = 0, vae = 0, kept_loss_items = 0;
  for (int i = 0; i < n; ++i) {
    SequencePacker p(config, kTok);
    p.Add(s, random);
    const PackedSequence out = p.Finish();
    const PackedBatch& b = out.batch;
    text += Vec(b.packed_text_ids.eq(6).sum())[0] == 0;
    vit += !b.packed_vit_token_indexes.defined() || b.packed_vit_token_indexes.numel() == 0;
    vae += b.packed_vae_token_indexes.numel() == 1;
    kept_loss_items +=
        Vec(b.packed_text_ids.eq(7).sum())[0] == 1 && b.mse_loss_indexes.numel() == 1;
  }
  auto near = [&](int count, double p) {
    const double sigma = std::sqrt(n * p * (1 - p));
    return std::abs(count - n * p) < 4 * sigma;
  };
  EXPECT_TRUE(near(text, 0.1)) << text;
  EXPECT_TRUE(near(vit, 0.3)) << vit;
  EXPECT_TRUE(near(vae, 0.3)) << vae;
  EXPECT_EQ(kept_loss_items, n);
}

}  // namespace
}  // namespace bagel::data
