#include "contract/progress_line.h"

#include <gtest/gtest.h>

namespace bagel::contract {
namespace {

using Kind = ProgressLine::Kind;

ProgressLine RoundTrip(const ProgressLine& p) {
  std::string why;
  auto back = ParseProgressLine(FormatProgressLine(p), &why);
  EXPECT_TRUE(back.has_value()) << why;
  return back.value_or(ProgressLine{});
}

TEST(ProgressLineTest, EveryKindRoundTrips) {
  ProgressLine started;
  started.kind = Kind::kStarted;
  started.rank = 1;
  started.world_size = 2;
  started.step = 4;
  started.total_steps = 10;
  started.attempt = 3;
  started.device = "cuda:1";
  const auto s = RoundTrip(started);
  EXPECT_EQ(s.kind, Kind::kStarted);
  EXPECT_EQ(s.event, "started");
  EXPECT_EQ(s.rank, 1);
  EXPECT_EQ(s.attempt, 3);
  EXPECT_EQ(s.device, "cuda:1");

  ProgressLine step;
  step.kind = Kind::kStep;
  step.step = 12;
  step.total_steps = 100;
  step.ce = 2.31;
  step.mse = 0.41;
  step.tokens = 20480;
  step.mem_bytes = 123456789;
  step.mse_tokens = 2048;
  step.has_data_counts = true;
  step.data_samples = 50;
  step.data_skipped = 3;
  step.data_skipped_by_reason = {{"bad_image", 2}, {"too_long", 1}};
  const auto t = RoundTrip(step);
  EXPECT_EQ(t.kind, Kind::kStep);
  EXPECT_DOUBLE_EQ(t.ce, 2.31);
  EXPECT_EQ(t.tokens, 20480);
  EXPECT_EQ(t.mse_tokens, 2048);
  EXPECT_DOUBLE_EQ(t.mem_bytes, 123456789);
  EXPECT_TRUE(t.has_data_counts);
  EXPECT_EQ(t.data_skipped_by_reason, step.data_skipped_by_reason);
  EXPECT_EQ(t.data_samples, 50);

  ProgressLine eval;
  eval.kind = Kind::kEval;
  eval.step = 50;
  eval.val_ce = 2.2;
  eval.images = {"/ckpt/j/eval/step-00000050/0.png"};
  eval.sample_seconds = 3.1;
  const auto e = RoundTrip(eval);
  EXPECT_EQ(e.val_ce, 2.2);
  EXPECT_FALSE(e.val_mse.has_value());
  EXPECT_EQ(e.images, eval.images);

  ProgressLine done;
  done.kind = Kind::kDone;
  done.step = 100;
  done.final_checkpoint = "/ckpt/j/step-00000100";
  done.hf_export = "/ckpt/j/hf";
  EXPECT_EQ(RoundTrip(done).hf_export, "/ckpt/j/hf");

  ProgressLine error;
  error.kind = Kind::kError;
  error.rank = 1;
  error.message = "collective timed out";
  EXPECT_EQ(RoundTrip(error).message, "collective timed out");
}

// Each kind writes only its own fields; a step without datasets has no data counts.
TEST(ProgressLineTest, AKindWritesOnlyItsFields) {
  ProgressLine c;
  c.kind = Kind::kCheckpoint;
  c.step = 50;
  c.path = "/ckpt/j/step-00000050";
  c.bytes = 12;
  c.seconds = 1.9;
  c.blocking_s = 0.25;
  EXPECT_EQ(FormatProgressLine(c),
            R"({"blocking_s":0.25,"bytes":12,"event":"checkpoint","path":"/ckpt/j/step-00000050",)"
            R"("seconds":1.9,"step":50})");
  EXPECT_EQ(ParseProgressLine(FormatProgressLine(c))->blocking_s, 0.25);
  ProgressLine s;
  s.kind = Kind::kStep;
  EXPECT_EQ(FormatProgressLine(s).find("data_"), std::string::npos);
}

TEST(ProgressLineTest, UnknownFieldsAndEventsAreTolerated) {
  auto p = ParseProgressLine(R"({"event":"step","step":3,"ce":"not a number","future":[1,2]})");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->kind, Kind::kStep);
  EXPECT_EQ(p->step, 3);
  EXPECT_EQ(p->ce, 0);
  auto other = ParseProgressLine(R"({"event":"profile","step":9})");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->kind, Kind::kOther);
  EXPECT_EQ(other->event, "profile");
}

TEST(ProgressLineTest, LinesThatAreNotEventsAreRefused) {
  std::string why;
  EXPECT_FALSE(ParseProgressLine("step 3/10 ce 2.1", &why).has_value());
  EXPECT_EQ(why, "not a JSON object");
  EXPECT_FALSE(ParseProgressLine(R"({"step":3})", &why).has_value());
  EXPECT_EQ(why, "no \"event\" field");
  EXPECT_FALSE(ParseProgressLine(R"([1,2])").has_value());
}

}  // namespace
}  // namespace bagel::contract
