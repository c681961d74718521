#include "worker/trainer/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace bagel::train {
namespace {

TEST(LrScheduleTest, ConstantWarmsUpFromZero) {
  LrSchedule s{LrSchedule::Kind::kConstant, 1e-3, 4, 100};
  EXPECT_DOUBLE_EQ(s.At(0), 0.0);  // golden train.json: with warmup the first step has lr 0
  EXPECT_DOUBLE_EQ(s.At(2), 5e-4);
  EXPECT_DOUBLE_EQ(s.At(4), 1e-3);
  EXPECT_DOUBLE_EQ(s.At(99), 1e-3);
  LrSchedule no_warmup{LrSchedule::Kind::kConstant, 2e-5, 0, 10};
  EXPECT_DOUBLE_EQ(no_warmup.At(0), 2e-5);
}

TEST(LrScheduleTest, CosineDecaysToMinLr) {
  LrSchedule s{LrSchedule::Kind::kCosine, 1e-3, 10, 110, 1e-7};
  EXPECT_DOUBLE_EQ(s.At(10), 1e-3);
  EXPECT_NEAR(s.At(60), 1e-7 + (1e-3 - 1e-7) * 0.5, 1e-12);
  EXPECT_NEAR(s.At(110), 1e-7, 1e-15);
  EXPECT_NEAR(s.At(500), 1e-7, 1e-15);
  EXPECT_THROW(LrSchedule::ParseKind("linear"), c10::Error);
}

}  // namespace
}  // namespace bagel::train
