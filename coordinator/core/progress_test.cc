// The trainer's progress lines (contract/progress_line.h) as the job sees them. How a line
// parses is contract/progress_line_test.cc's; these check what each event does to the job.
#include "contract/progress_line.h"
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

int CountLines(const fs::path& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST_F(ControlPlaneTest, EveryEventOfTheContractUpdatesTheJob) {
  AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  auto w = cp_->WatchJob(kAlice, id);
  ASSERT_TRUE(w.ok());
  Line("w1", id, 0, R"({"event":"started","rank":0,"world_size":1,"step":4,"total_steps":100})");
  EXPECT_EQ(cp_->GetJob(kAlice, id)->progress().step(), 4);
  EXPECT_EQ(cp_->GetJob(kAlice, id)->progress().total_steps(), 100);
  // Only rank 0's "started" line moves the job's progress.
  Line("w1", id, 0, R"({"event":"started","rank":1,"world_size":2,"step":9,"total_steps":200})");
  EXPECT_EQ(cp_->GetJob(kAlice, id)->progress().step(), 4);

  Line("w1", id, 0,
       R"({"event":"step","step":12,"total_steps":100,"ce":2.31,"mse":0.41,"lr":1e-4,)"
       R"("grad_norm":1.2,"tokens":20480,"tokens_per_s":5321.0,"step_time_s":3.85,"mfu":0.0,)"
       R"("mem_bytes":123456789,"ce_tokens":4100,"mse_tokens":2048,"new_field":[1,2]})");
  auto p = cp_->GetJob(kAlice, id)->progress();
  EXPECT_EQ(p.step(), 12);
  EXPECT_EQ(p.total_steps(), 100);
  EXPECT_DOUBLE_EQ(p.ce(), 2.31);
  EXPECT_DOUBLE_EQ(p.mse(), 0.41);
  EXPECT_DOUBLE_EQ(p.lr(), 1e-4);
  EXPECT_DOUBLE_EQ(p.grad_norm(), 1.2);
  EXPECT_EQ(p.tokens(), 20480);
  EXPECT_DOUBLE_EQ(p.tokens_per_s(), 5321.0);
  EXPECT_DOUBLE_EQ(p.step_time_s(), 3.85);
  EXPECT_EQ(p.mem_bytes(), 123456789);
  EXPECT_EQ(p.updated_unix_ms(), clock_.NowMs());

  // A line as the trainer's formatter writes it (memory as a JSON double).
  contract::ProgressLine step;
  step.kind = contract::ProgressLine::Kind::kStep;
  step.step = 13;
  step.total_steps = 100;
  step.ce = 2.25;
  step.mem_bytes = 2.5e9;
  Line("w1", id, 0, contract::FormatProgressLine(step));
  p = cp_->GetJob(kAlice, id)->progress();
  EXPECT_EQ(p.step(), 13);
  EXPECT_DOUBLE_EQ(p.ce(), 2.25);
  EXPECT_EQ(p.mem_bytes(), 2'500'000'000);

  Line("w1", id, 0, R"({"event":"eval","step":50,"val_ce":2.2,"val_mse":0.4,"images":[]})");
  p = cp_->GetJob(kAlice, id)->progress();
  EXPECT_DOUBLE_EQ(p.val_ce(), 2.2);
  EXPECT_DOUBLE_EQ(p.val_mse(), 0.4);
  // A loss the evaluation did not have (a Stage 1 job has no MSE) reads as 0.
  Line("w1", id, 0, R"({"event":"eval","step":60,"val_ce":2.1})");
  p = cp_->GetJob(kAlice, id)->progress();
  EXPECT_DOUBLE_EQ(p.val_ce(), 2.1);
  EXPECT_DOUBLE_EQ(p.val_mse(), 0);
  // "step" and "eval" lines are kept in the job's metrics.jsonl, with the attempt.
  const fs::path metrics = root_ / "ckpt" / id / "metrics.jsonl";
  EXPECT_EQ(CountLines(metrics), 4);
  {
    std::ifstream in(metrics);
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first.rfind(R"({"attempt":0,"unix_ms":)", 0), 0u) << first;
    EXPECT_NE(first.find(R"("event":"step")"), std::string::npos) << first;
  }

  Line("w1", id, 0,
       R"({"event":"checkpoint","step":50,"path":"/ckpt/job/step-00000050","bytes":12345678,)"
       R"("seconds":1.9})");
  Line("w1", id, 0, R"({"event":"error","rank":1,"message":"collective timed out"})");
  Line("w1", id, 0, R"({"event":"something_new","step":99})");
  Line(
      "w1", id, 0,
      R"({"event":"done","step":100,"final_checkpoint":"/c/j/step-00000100","hf_export":"/c/j/hf"})");
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->final_checkpoint(), "/c/j/step-00000100");
  EXPECT_EQ(job->hf_export(), "/c/j/hf");
  EXPECT_EQ(job->progress().step(), 13);  // neither "something_new" nor "done" moves it

  std::vector<bagel::v1::JobEvent> events;
  while (auto e = w->events->Pop(std::chrono::milliseconds(0))) events.push_back(*e);
  int progress = 0, checkpoints = 0, logs = 0;
  for (const auto& e : events) {
    switch (e.kind()) {
      case bagel::v1::JobEvent::PROGRESS:
        ++progress;
        EXPECT_TRUE(e.job().spec_yaml().empty());
        break;
      case bagel::v1::JobEvent::CHECKPOINT:
        ++checkpoints;
        EXPECT_EQ(e.checkpoint().step(), 50);
        EXPECT_EQ(e.checkpoint().path(), "/ckpt/job/step-00000050");
        EXPECT_EQ(e.checkpoint().bytes(), 12345678);
        EXPECT_EQ(e.checkpoint().attempt(), 0);
        break;
      case bagel::v1::JobEvent::LOG:
        ++logs;
        EXPECT_EQ(e.message(), "rank 1: collective timed out");
        break;
      default:
        break;
    }
  }
  EXPECT_EQ(progress, 4);  // two "step" and two "eval" lines
  EXPECT_EQ(checkpoints, 1);
  EXPECT_EQ(logs, 1);
}

TEST_F(ControlPlaneTest, WhatIsNotAProgressLineOfARunningRankChangesNothing) {
  AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  Line("w1", id, 0, R"({"event":"step","step":3,"ce":2.0})");
  for (const char* text : {"step=1 ce=2", "[1,2]", R"({"step":5})", R"({"event":3,"step":5})"}) {
    Line("w1", id, 0, text);
    EXPECT_EQ(cp_->GetJob(kAlice, id)->progress().step(), 3) << text;
  }
  // Lines of another attempt, or of a rank not placed on the reporting worker, are dropped.
  Line("w1", id, 1, R"({"event":"step","step":8})");
  Line("w1", id, 0, R"({"event":"step","step":8})", /*rank=*/3);
  EXPECT_EQ(cp_->GetJob(kAlice, id)->progress().step(), 3);
  bagel::v1::ReportProgressRequest stranger;
  stranger.set_name("w9");
  EXPECT_EQ(cp_->ReportProgress(stranger).code(), absl::StatusCode::kNotFound);
  // Known fields of the wrong type are ignored, not fatal.
  Line("w1", id, 0, R"({"event":"step","step":"twelve","ce":1.5})");
  auto p = cp_->GetJob(kAlice, id)->progress();
  EXPECT_EQ(p.step(), 0);
  EXPECT_DOUBLE_EQ(p.ce(), 1.5);
  EXPECT_EQ(CountLines(root_ / "ckpt" / id / "metrics.jsonl"), 2);
}

}  // namespace
}  // namespace bagel::coord::cp_test
