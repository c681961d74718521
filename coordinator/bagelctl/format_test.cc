#include "coordinator/bagelctl/format.h"

#include <gtest/gtest.h>

namespace bagel::ctl {
namespace {

TEST(FormatTest, Table) {
  EXPECT_EQ(RenderTable({"ID", "STATE"}, {{"j-1", "RUNNING"}, {"j-22222", "PENDING"}}),
            "ID       STATE\nj-1      RUNNING\nj-22222  PENDING\n");
}

TEST(FormatTest, DurationsAndBytes) {
  EXPECT_EQ(HumanDuration(0.4), "0s");
  EXPECT_EQ(HumanDuration(75), "1m15s");
  EXPECT_EQ(HumanDuration(3725), "1h02m");
  EXPECT_EQ(HumanDuration(90000), "1d01h");
  EXPECT_EQ(HumanDuration(-1), "-");
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(Age(0, 5), "-");
  EXPECT_EQ(Age(1000, 61000), "1m00s");
}

TEST(FormatTest, ProgressAndEta) {
  EXPECT_EQ(ProgressBar(5, 10, 10), "[#####.....]");
  EXPECT_EQ(ProgressBar(20, 10, 4), "[####]");
  EXPECT_EQ(ProgressBar(0, 0, 4), "[....]");
  bagel::v1::Progress p;
  p.set_step(25);
  p.set_total_steps(100);
  p.set_step_time_s(2.0);
  EXPECT_DOUBLE_EQ(*EtaSeconds(p, 0), 150.0);
  p.set_step_time_s(0);
  EXPECT_DOUBLE_EQ(*EtaSeconds(p, 50), 150.0);
  p.set_step(0);
  EXPECT_FALSE(EtaSeconds(p, 50).has_value());
  bagel::v1::Job j;
  j.set_stage(2);
  auto* q = j.mutable_progress();
  q->set_step(50);
  q->set_total_steps(100);
  q->set_ce(2.5);
  q->set_mse(0.25);
  q->set_tokens_per_s(1234);
  q->set_step_time_s(1);
  q->set_updated_unix_ms(1);
  EXPECT_EQ(
      WatchLine(j, 0),
      "[############............]  50.0% step 50/100  ce 2.5000  mse 0.2500  1234 tok/s  ETA 50s");
}

TEST(FormatTest, TensorBoardRunIsBesideTheCheckpoints) {
  EXPECT_EQ(TensorBoardDir("/ckpt/job-7"), "/ckpt/job-7/tensorboard");
  EXPECT_EQ(TensorBoardLine("/ckpt/job-7"),
            "/ckpt/job-7/tensorboard  (tensorboard --logdir /ckpt/job-7/tensorboard)");
}

TEST(FormatTest, States) {
  EXPECT_EQ(ParseState("running"), bagel::v1::RUNNING);
  EXPECT_EQ(ParseState("Succeeded"), bagel::v1::SUCCEEDED);
  EXPECT_FALSE(ParseState("bogus").has_value());
  EXPECT_FALSE(ParseState("job_state_unspecified").has_value());
  EXPECT_EQ(StateName(bagel::v1::CANCELLED), "CANCELLED");
}

}  // namespace
}  // namespace bagel::ctl
