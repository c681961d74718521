// The shared core: recovery after a coordinator restart, and shutdown.
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

TEST_F(ControlPlaneTest, RestartedCoordinatorKeepsRunningJobsRunning) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  Line("w1", id, 0, R"({"event":"step","step":5,"total_steps":10,"ce":1.5})");
  Reopen();  // a new coordinator process on the same database
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  // The agent reconnects and reports its rank alive.
  bagel::v1::RegisterRequest r;
  r.set_name("w1");
  r.set_address("10.0.0.1");
  r.set_cpu_slots(1);
  r.set_incarnation("i1");
  auto* rr = r.add_running();
  rr->set_job_id(id);
  rr->set_attempt(0);
  rr->set_rank(0);
  ASSERT_TRUE(cp_->Register(r).ok());
  auto q2 = cp_->OpenAssignments("w1", "i1");
  ASSERT_TRUE(q2.ok());
  EXPECT_TRUE(Drain(*q2).empty());  // nothing to start again
  cp_->Tick();
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  Exit("w1", id, 0, 0, ExitCode::kDone);
  EXPECT_EQ(State(id), bagel::v1::SUCCEEDED);
}

TEST_F(ControlPlaneTest, ShutdownSavesProgressAndClosesEveryStream) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  auto w = cp_->WatchJob(kAlice, id);
  ASSERT_TRUE(w.ok());
  // Progress is written to the store at most every 2 s; shutting down writes what is left.
  Line("w1", id, 0, R"({"event":"step","step":7,"total_steps":10,"ce":1.25})");
  cp_->Shutdown();
  EXPECT_TRUE(w->events->closed());
  EXPECT_TRUE(q->closed());
  EXPECT_EQ(cp_->SubmitJob(kAlice, Spec(1, 0), "").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cp_->OpenAssignments("w1", "i1").status().code(), absl::StatusCode::kUnavailable);
  auto late = cp_->WatchJob(kAlice, id);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->ended);
  Reopen();
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->state(), bagel::v1::RUNNING);
  EXPECT_EQ(job->progress().step(), 7);
  EXPECT_DOUBLE_EQ(job->progress().ce(), 1.25);
}

}  // namespace
}  // namespace bagel::coord::cp_test
