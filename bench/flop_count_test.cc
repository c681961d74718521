#include "model/bagel/flop_count.h"

#include <gtest/gtest.h>

#include "bench/bench_batches.h"
#include "model/config/presets.h"

namespace bagel {
namespace {
using bench::BenchBatch;

// BENCH.md's figures for the official implementation's small Stage 1 step: 1,976 tokens,
// ~0.68 TFLOP executed, of which ~0.38 in the lm_head on 804 CE tokens.
TEST(FlopCountTest, SmallStage1MatchesBenchMd) {
  BagelConfig c = PresetConfig("small");
  PrepareConfigForStage(c, 1);
  PackedBatch b = BenchBatch("small", 1, c, 0);
  EXPECT_EQ(b.sequence_length, 1976);
  EXPECT_EQ(b.ce_loss_indexes.numel(), 804);
  FlopBreakdown f = ExecutedFlops(c, b);
  EXPECT_NEAR(f.total() / 1e12, 0.68, 0.01);
  EXPECT_NEAR(f.lm_head / 1e12, 0.38, 0.01);
}

TEST(FlopCountTest, SmallStage2MatchesBenchMd) {
  BagelConfig c = PresetConfig("small");
  PrepareConfigForStage(c, 2);
  PackedBatch b = BenchBatch("small", 2, c, 0);
  EXPECT_EQ(b.sequence_length, 1572);
  EXPECT_EQ(b.ce_loss_indexes.numel(), 402);
  FlopBreakdown f = ExecutedFlops(c, b);
  EXPECT_NEAR(f.total() / 1e12, 0.41, 0.01);
  EXPECT_NEAR(f.lm_head / 1e12, 0.19, 0.01);
}

TEST(FlopCountTest, TinyBatchesHaveTheGoldenShapes) {
  for (int stage : {1, 2}) {
    BagelConfig c = PresetConfig("tiny");
    PrepareConfigForStage(c, stage);
    PackedBatch b = BenchBatch("tiny", stage, c, 0);
    EXPECT_EQ(b.sequence_length, stage == 1 ? 74 : 71);
  }
}

TEST(FlopCountTest, BagelMfuCountsEveryTokenThroughEmbeddingAndHead) {
  BagelConfig c = PresetConfig("small");
  PrepareConfigForStage(c, 1);
  PackedBatch b;
  b.sequence_length = 10;
  b.sample_lens = {10};
  const double h = 512, dense = 6 * (3 * h * 1536 + h * (512 + 256 + 256 + 512)) + 2 * 151665 * h;
  EXPECT_DOUBLE_EQ(BagelMfuFlops(c, b), 6 * dense * 10 + 12.0 * 64 * 8 * 6 * 100);
}

}  // namespace
}  // namespace bagel
