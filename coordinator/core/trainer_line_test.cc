#include "coordinator/core/trainer_line.h"

#include <gtest/gtest.h>

namespace bagel::coord {
namespace {

TEST(TrainerLineTest, EveryEventOfTheContract) {
  auto s = ParseTrainerLine(
      R"({"event":"step","step":12,"total_steps":100,"ce":2.31,"mse":0.41,"lr":1e-4,)"
      R"("grad_norm":1.2,"tokens":20480,"tokens_per_s":5321.0,"step_time_s":3.85,"mfu":0.0,)"
      R"("mem_bytes":123456789,"ce_tokens":4100,"mse_tokens":2048,"new_field":[1,2]})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, TrainerLine::Kind::kStep);
  EXPECT_EQ(s->step, 12);
  EXPECT_EQ(s->total_steps, 100);
  EXPECT_DOUBLE_EQ(s->ce, 2.31);
  EXPECT_EQ(s->tokens, 20480);
  EXPECT_EQ(s->mem_bytes, 123456789);
  auto c = ParseTrainerLine(
      R"({"event":"checkpoint","step":50,"path":"/ckpt/job/step-00000050","bytes":12345678,"seconds":1.9})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, TrainerLine::Kind::kCheckpoint);
  EXPECT_EQ(c->path, "/ckpt/job/step-00000050");
  EXPECT_EQ(c->bytes, 12345678);
  auto d = ParseTrainerLine(
      R"({"event":"done","step":100,"final_checkpoint":"/c/j/step-00000100","hf_export":"/c/j/hf"})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, TrainerLine::Kind::kDone);
  EXPECT_EQ(d->hf_export, "/c/j/hf");
  auto e = ParseTrainerLine(R"({"event":"error","rank":1,"message":"collective timed out"})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, TrainerLine::Kind::kError);
  EXPECT_EQ(e->rank, 1);
  auto v = ParseTrainerLine(R"({"event":"eval","step":50,"val_ce":2.2,"val_mse":0.4,"images":[]})");
  ASSERT_TRUE(v.ok());
  EXPECT_DOUBLE_EQ(v->val_ce, 2.2);
  auto st =
      ParseTrainerLine(R"({"event":"started","rank":0,"world_size":2,"step":0,"total_steps":100})");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->world_size, 2);
  auto o = ParseTrainerLine(R"({"event":"something_new"})");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->kind, TrainerLine::Kind::kOther);
}

TEST(TrainerLineTest, RefusesWhatIsNotALine) {
  EXPECT_FALSE(ParseTrainerLine("step=1 ce=2").ok());
  EXPECT_FALSE(ParseTrainerLine("[1,2]").ok());
  EXPECT_FALSE(ParseTrainerLine(R"({"step":1})").ok());
  EXPECT_FALSE(ParseTrainerLine(R"({"event":3})").ok());
  // Wrong types of known fields are ignored, not fatal.
  auto s = ParseTrainerLine(R"({"event":"step","step":"twelve"})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->step, 0);
}

}  // namespace
}  // namespace bagel::coord
