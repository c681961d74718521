#include "worker/trainer/local_training.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/bagel/bagel_for_unified_multimodal.h"

namespace bagel::train {
namespace {

// The demo data is learnable: a short run lowers the CE well below its start (ln 256 ~ 5.5),
// and the exported checkpoint loads back strictly.
TEST(LocalTrainingTest, LearnsTheDemoDataAndExportsALoadableCheckpoint) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("local_training_" + std::to_string(::getpid()));
  LocalTrainingOptions o;
  o.steps = 120;
  o.schedule.lr = 3e-3;
  o.schedule.warmup_steps = 10;
  o.schedule.total_steps = o.steps;
  o.out = dir.string();
  auto records = RunLocalTraining(o, nullptr);
  ASSERT_EQ(records.size(), 120u);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += records[i].ce / 10;
  for (int i = 110; i < 120; ++i) last += records[i].ce / 10;
  EXPECT_GT(first, 4.5);
  EXPECT_LT(last, first - 2.0) << "first " << first << " last " << last;
  EXPECT_DOUBLE_EQ(records[0].lr, 0.0);
  auto loaded = BagelForUnifiedMultimodal::FromPretrained(dir.string(), 1, /*strict=*/true);
  EXPECT_EQ(loaded.model->Stage(), 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bagel::train
