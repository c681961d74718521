// The attempt state machine: gang start and rendezvous, rank exits, aborts and restarts.
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

TEST_F(ControlPlaneTest, GangOfTwoRunsToSuccessWithRendezvousFromRankZero) {
  auto q1 = AddWorker("w1", 0);
  auto q2 = AddWorker("w2", 0);
  const std::string id = Submit(Spec(2, 0));
  EXPECT_EQ(State(id), bagel::v1::PENDING);
  cp_->Tick();
  EXPECT_EQ(State(id), bagel::v1::SCHEDULED);
  // Only rank 0's worker is told first: it chooses the rendezvous port.
  auto a1 = Drain(q1), a2 = Drain(q2);
  std::vector<Assignment>& first = a1.empty() ? a2 : a1;
  std::vector<Assignment>& second = a1.empty() ? a1 : a2;
  const std::string w0 = a1.empty() ? "w2" : "w1", w1 = a1.empty() ? "w1" : "w2";
  auto& q_other = a1.empty() ? q1 : q2;
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(first[0].kind(), Assignment::START);
  EXPECT_EQ(first[0].first_rank(), 0);
  EXPECT_EQ(first[0].world_size(), 2);
  EXPECT_EQ(first[0].master_port(), 0);
  EXPECT_EQ(first[0].resume(), "auto");
  EXPECT_FALSE(first[0].use_gpus());
  Started(w0, id, 0, {0}, 29555);
  auto later = Drain(q_other);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].first_rank(), 1);
  EXPECT_EQ(later[0].master_addr(), "10.0.0.1");
  EXPECT_EQ(later[0].master_port(), 29555);
  Started(w1, id, 0, {1});
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  Line(w0, id, 0, R"({"event":"step","step":3,"total_steps":10,"ce":2.5,"tokens_per_s":100})");
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->progress().step(), 3);
  EXPECT_DOUBLE_EQ(job->progress().ce(), 2.5);
  EXPECT_TRUE(fs::exists(root_ / "ckpt" / id / "metrics.jsonl"));
  // Workers are busy: a second job waits.
  const std::string other = Submit(Spec(1, 0));
  cp_->Tick();
  EXPECT_EQ(State(other), bagel::v1::PENDING);
  Exit(w1, id, 0, 1, ExitCode::kDone);
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  Exit(w0, id, 0, 0, ExitCode::kDone);
  EXPECT_EQ(State(id), bagel::v1::SUCCEEDED);
  cp_->Tick();
  EXPECT_EQ(State(other), bagel::v1::SCHEDULED);
}

TEST_F(ControlPlaneTest, RankFailureAbortsEveryRankAndRestartsFromNewestCheckpoint) {
  auto q1 = AddWorker("w1", 0);
  auto q2 = AddWorker("w2", 0);
  const std::string id = Submit(Spec(2, 0, 0, 1));
  cp_->Tick();
  std::string w0 = Drain(q1).empty() ? "w2" : "w1";
  std::string w1 = w0 == "w1" ? "w2" : "w1";
  Started(w0, id, 0, {0}, 29500);
  Started(w1, id, 0, {1});
  Drain(q1);
  Drain(q2);
  WriteCheckpoint(id, 4);
  const std::string newest = WriteCheckpoint(id, 8);
  Exit(w1, id, 0, 1, 137);  // kill -9 of rank 1
  // Coordinated abort: rank 0's worker is told to stop.
  auto stops = Drain(w0 == "w1" ? q1 : q2);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].kind(), Assignment::STOP);
  EXPECT_EQ(stops[0].grace_ms(), 1000);
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  Exit(w0, id, 0, 0, ExitCode::kCollectiveFailed);  // rank 0 saw the collective fail
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->state(), bagel::v1::RESTARTING);
  EXPECT_EQ(job->restarts(), 1);
  EXPECT_NE(job->message().find("rank 1 exited with code 137 (signal 9)"), std::string::npos);
  EXPECT_NE(Pinned(id).find("step-00000008"), std::string::npos);
  cp_->Tick();
  auto starts = Drain(w0 == "w1" ? q1 : q2);
  auto starts2 = Drain(w0 == "w1" ? q2 : q1);
  ASSERT_EQ(starts.size() + starts2.size(), 1u);
  const auto& s = starts.empty() ? starts2[0] : starts[0];
  EXPECT_EQ(s.attempt(), 1);
  EXPECT_EQ(s.resume(), newest);
  EXPECT_EQ(cp_->GetJob(kAlice, id)->attempts(1).resume_from(), newest);
  EXPECT_NE(Pinned(id).find("step-00000008"), std::string::npos);
  // The second failure uses the last restart.
  const std::string r0 = starts.empty() ? (w0 == "w1" ? "w2" : "w1") : w0;
  Started(r0, id, 1, {0}, 29501);
  Exit(r0, id, 1, 0, ExitCode::kFailed);
  cp_->Tick();
  clock_.AdvanceMsForTest(30000);  // the other rank never confirms: taken as gone
  cp_->Tick();
  job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->state(), bagel::v1::FAILED);
  EXPECT_NE(job->message().find("1 of 1 restarts used"), std::string::npos);
  EXPECT_EQ(Pinned(id), "");
}

TEST_F(ControlPlaneTest, InvalidSpecExitIsNotRestarted) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  Exit("w1", id, 0, 0, ExitCode::kInvalidSpec);
  EXPECT_EQ(State(id), bagel::v1::FAILED);
}

TEST_F(ControlPlaneTest, StaleReportsAreStoppedAndALaunchFailureRestarts) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  ASSERT_EQ(Drain(q).size(), 1u);
  // Ranks of an attempt the coordinator does not run: the agent is told to stop them.
  Started("w1", id, 7, {0}, 29500);
  auto stops = Drain(q);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].kind(), Assignment::STOP);
  EXPECT_EQ(stops[0].attempt(), 7);
  EXPECT_EQ(stops[0].grace_ms(), 1000);
  EXPECT_EQ(stops[0].reason(), "abort: attempt no longer active");
  EXPECT_EQ(State(id), bagel::v1::SCHEDULED);
  Started("w1", id, 0, {0}, 29500);
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  // The exit of an attempt that does not exist changes nothing.
  Exit("w1", id, 5, 0, ExitCode::kFailed);
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  // Unlike an invalid spec, a failed launch may succeed the next time.
  Exit("w1", id, 0, 0, ExitCode::kLaunchFailed);
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->state(), bagel::v1::RESTARTING);
  EXPECT_EQ(job->restarts(), 1);
  EXPECT_NE(job->message().find("rank 0 exited with code 127;"), std::string::npos)
      << job->message();
}

}  // namespace
}  // namespace bagel::coord::cp_test
