#include "contract/checkpoint_layout.h"

#include <gtest/gtest.h>

namespace bagel::contract {
namespace {

TEST(CheckpointLayoutTest, StepDirectoryNamesRoundTrip) {
  EXPECT_EQ(StepDirName(12), "step-00000012");
  EXPECT_EQ(StepDirName(123456789), "step-123456789");
  for (int64_t step : {int64_t{0}, int64_t{12}, int64_t{99999999}, int64_t{123456789}}) {
    EXPECT_EQ(StepOfDirName(StepDirName(step)), step);
  }
}

// One rule for the trainer and the coordinator: staging, corrupt, short or foreign names are
// not published step directories.
TEST(CheckpointLayoutTest, OnlyPublishedStepDirectoriesParse) {
  for (const char* name :
       {"step-00000012.staging", "step-00000012.corrupt", "step-12", "step-", "step-0000001x",
        "Step-00000012", "step-0000000000000000012", "hf", "LATEST"}) {
    EXPECT_FALSE(StepOfDirName(name).has_value()) << name;
  }
}

TEST(CheckpointLayoutTest, RankFiles) { EXPECT_EQ(RankFileName(3, 8), "rank-3-of-8.safetensors"); }

}  // namespace
}  // namespace bagel::contract
