// Workers: leases, draining, and what a reconnecting agent is told.
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

TEST_F(ControlPlaneTest, LostLeaseAbortsTheAttempt) {
  auto q1 = AddWorker("w1", 0);
  auto q2 = AddWorker("w2", 0);
  const std::string id = Submit(Spec(2, 0));
  cp_->Tick();
  std::string w0 = Drain(q1).empty() ? "w2" : "w1";
  std::string w1 = w0 == "w1" ? "w2" : "w1";
  Started(w0, id, 0, {0}, 29500);
  Started(w1, id, 0, {1});
  Drain(q1);
  Drain(q2);
  // Only w0 keeps heartbeating.
  clock_.AdvanceMsForTest(6000);
  bagel::v1::HeartbeatRequest hb;
  hb.set_name(w0);
  hb.set_incarnation("i1");
  ASSERT_TRUE(cp_->Heartbeat(hb).ok());
  clock_.AdvanceMsForTest(6000);
  cp_->Tick();
  auto workers = cp_->ListWorkers();
  for (const auto& w : workers) {
    EXPECT_EQ(w.state(), w.name() == w1 ? bagel::v1::WORKER_LOST : bagel::v1::WORKER_READY);
  }
  auto stops = Drain(w0 == "w1" ? q1 : q2);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].kind(), Assignment::STOP);
  Exit(w0, id, 0, 0, 143);
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->state(), bagel::v1::RESTARTING);
  EXPECT_NE(job->message().find("lost"), std::string::npos);
  // The lost worker must register again; its heartbeat is refused.
  hb.set_name(w1);
  EXPECT_EQ(cp_->Heartbeat(hb).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneTest, DrainedWorkersTakeNoNewWork) {
  auto q = AddWorker("w1", 0);
  EXPECT_EQ(cp_->DrainWorker(kAlice, "w1", true).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(cp_->DrainWorker(kRoot, "w1", true).ok());
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  EXPECT_EQ(State(id), bagel::v1::PENDING);
  ASSERT_TRUE(cp_->DrainWorker(kRoot, "w1", false).ok());
  cp_->Tick();
  EXPECT_EQ(State(id), bagel::v1::SCHEDULED);
  EXPECT_EQ(cp_->DrainWorker(kRoot, "w9", true).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneTest, AgentRestartLosesItsRanksAndUnknownRanksAreStopped) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  // A new agent process (new incarnation) reports nothing of attempt 0 but a stray rank.
  bagel::v1::RegisterRequest r;
  r.set_name("w1");
  r.set_address("10.0.0.1");
  r.set_cpu_slots(1);
  r.set_incarnation("i2");
  auto* rr = r.add_running();
  rr->set_job_id("j-stray");
  rr->set_attempt(3);
  rr->set_rank(0);
  ASSERT_TRUE(cp_->Register(r).ok());
  EXPECT_EQ(State(id), bagel::v1::RESTARTING);
  auto q2 = cp_->OpenAssignments("w1", "i2");
  auto a = Drain(*q2);
  ASSERT_GE(a.size(), 1u);
  EXPECT_EQ(a[0].kind(), Assignment::STOP);
  EXPECT_EQ(a[0].job_id(), "j-stray");
}

TEST_F(ControlPlaneTest, RegisterValidatesAndOnlyTheRegisteredIncarnationIsHeard) {
  bagel::v1::RegisterRequest r;
  r.set_name("bad name!");
  r.set_address("10.0.0.1");
  r.set_cpu_slots(1);
  r.set_incarnation("i1");
  EXPECT_EQ(cp_->Register(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_name("w1");
  r.set_gpus(2000);
  EXPECT_EQ(cp_->Register(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_gpus(0);
  r.clear_incarnation();
  EXPECT_EQ(cp_->Register(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_incarnation("i1");
  r.clear_address();
  EXPECT_EQ(cp_->Register(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_address("10.0.0.1");
  auto reg = cp_->Register(r);
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(reg->lease_ttl_ms(), 10000);
  EXPECT_EQ(reg->heartbeat_interval_ms(), 1000);
  EXPECT_EQ(reg->checkpoint_root(), (root_ / "ckpt").string());
  bagel::v1::HeartbeatRequest hb;
  hb.set_name("w1");
  hb.set_incarnation("i2");
  EXPECT_EQ(cp_->Heartbeat(hb).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cp_->OpenAssignments("w1", "i2").status().code(), absl::StatusCode::kNotFound);
  clock_.AdvanceMsForTest(500);
  hb.set_incarnation("i1");
  auto beat = cp_->Heartbeat(hb);
  ASSERT_TRUE(beat.ok());
  EXPECT_EQ(beat->lease_expires_unix_ms(), clock_.NowMs() + 10000);
  EXPECT_FALSE(beat->draining());
  auto workers = cp_->ListWorkers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].state(), bagel::v1::WORKER_READY);
  EXPECT_EQ(workers[0].lease_expires_unix_ms(), clock_.NowMs() + 10000);
  EXPECT_EQ(workers[0].last_heartbeat_unix_ms(), clock_.NowMs());
}

}  // namespace
}  // namespace bagel::coord::cp_test
