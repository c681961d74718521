#include "model/attention/attention_layout.h"

#include <gtest/gtest.h>

#include <random>

#include "model/testing/random_layout.h"

namespace bagel {
namespace {

// Per-sample masks cut from the brute-force whole-sequence mask.
std::vector<at::Tensor> SampleBlocks(const at::Tensor& full, const std::vector<int64_t>& lens) {
  std::vector<at::Tensor> out;
  int64_t start = 0;
  for (int64_t n : lens) {
    out.push_back(full.narrow(0, start, n).narrow(1, start, n));
    start += n;
  }
  return out;
}

TEST(AllowedAttentionMaskTest, MatchesBruteForceRuleOnRandomLayouts) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    auto layout = testing::MakeRandomLayout(rng);
    at::Tensor full = testing::BruteForceMask(layout);
    auto blocks = SampleBlocks(full, layout.sample_lens);
    size_t split = 0;
    for (size_t s = 0; s < layout.sample_lens.size(); ++s) {
      std::vector<int64_t> lens;
      std::vector<AttnMode> modes;
      int64_t covered = 0;
      while (covered < layout.sample_lens[s]) {
        lens.push_back(layout.split_lens[split]);
        modes.push_back(layout.modes[split]);
        covered += layout.split_lens[split++];
      }
      ASSERT_TRUE(AllowedAttentionMask(lens, modes).equal(blocks[s])) << "trial " << trial;
    }
  }
}

TEST(AllowedAttentionMaskTest, WorkedEditExampleOfBagelMd) {
  // T T T | C C C C | V V V V | t t t | N N N N  (causal, full, full, causal, noise)
  at::Tensor m = AllowedAttentionMask(
      {3, 4, 4, 3, 4},
      {AttnMode::kCausal, AttnMode::kFull, AttnMode::kFull, AttnMode::kCausal, AttnMode::kNoise});
  // T rows are causal.
  EXPECT_TRUE(m[0][0].item<bool>());
  EXPECT_FALSE(m[0][1].item<bool>());
  // C rows see T and all of C, nothing later.
  EXPECT_TRUE(m[3].narrow(0, 0, 7).all().item<bool>());
  EXPECT_FALSE(m[3].narrow(0, 7, 11).any().item<bool>());
  // t rows: causal over everything before, never N.
  EXPECT_TRUE(m[12].narrow(0, 0, 13).all().item<bool>());
  EXPECT_FALSE(m[12].narrow(0, 13, 5).any().item<bool>());
  // N rows see everything up to and including all of N.
  EXPECT_TRUE(m[14].all().item<bool>());
  // Nobody outside N sees N.
  EXPECT_FALSE(m.narrow(0, 0, 14).narrow(1, 14, 4).any().item<bool>());
}

TEST(AttentionLayoutTest, FromSplitsAssignsSplitsToSamples) {
  auto layout = AttentionLayout::FromSplits(
      {5, 3}, {2, 3, 3}, {AttnMode::kCausal, AttnMode::kFull, AttnMode::kNoise}, 8);
  ASSERT_EQ(layout.samples().size(), 2u);
  EXPECT_EQ(layout.samples()[0].splits.size(), 2u);
  EXPECT_EQ(layout.samples()[1].start, 5);
  EXPECT_EQ(layout.samples()[1].splits[0].mode, AttnMode::kNoise);
}

TEST(AttentionLayoutTest, DropsTheFlexPaddingSample) {
  // sequence_length 5, plus the flex path's dummy sample of 3 (one causal split).
  auto layout =
      AttentionLayout::FromSplits({5, 3}, {5, 3}, {AttnMode::kCausal, AttnMode::kCausal}, 5);
  EXPECT_EQ(layout.samples().size(), 1u);
  EXPECT_EQ(layout.num_tokens(), 5);
}

TEST(AttentionLayoutTest, RejectsInconsistentLists) {
  EXPECT_THROW(AttentionLayout::FromSplits({4}, {2, 3}, {AttnMode::kCausal, AttnMode::kFull}, 4),
               c10::Error);
  EXPECT_THROW(AttentionLayout::FromSplits({3, 3}, {2, 4}, {AttnMode::kCausal, AttnMode::kFull}, 6),
               c10::Error);  // a split crosses a sample boundary
  EXPECT_THROW(AttentionLayout::FromSplits({3}, {3}, {AttnMode::kCausal, AttnMode::kFull}, 3),
               c10::Error);  // modes and lengths differ in count
  EXPECT_THROW(AttnModeFromCode(3), c10::Error);
  try {
    AttentionLayout::FromSplits({4}, {2, 3}, {AttnMode::kCausal, AttnMode::kFull}, 4);
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("split_lens"), std::string::npos);
  }
}

}  // namespace
}  // namespace bagel
