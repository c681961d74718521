// The user API: submit, read, list, cancel, watch, logs and exports.
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

TEST_F(ControlPlaneTest, CancelStopsEveryRankOrEndsAQueuedJob) {
  auto q = AddWorker("w1", 0);
  const std::string running = Submit(Spec(1, 0));
  clock_.AdvanceMsForTest(1);  // FIFO: the first one runs
  const std::string queued = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", running, 0, {0}, 29500);
  Drain(q);
  auto c = cp_->CancelJob(kAlice, queued);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state(), bagel::v1::CANCELLED);
  EXPECT_EQ(cp_->CancelJob(kAlice, queued).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cp_->CancelJob(kBob, running).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(cp_->CancelJob(kAlice, "j-nope").status().code(), absl::StatusCode::kNotFound);
  c = cp_->CancelJob(kAlice, running);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->cancel_requested());
  auto stops = Drain(q);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].kind(), Assignment::STOP);
  EXPECT_EQ(stops[0].grace_ms(), 5000);
  EXPECT_EQ(stops[0].reason(), "cancel");
  Exit("w1", running, 0, 0, ExitCode::kStopped);  // checkpointed on SIGTERM
  EXPECT_EQ(State(running), bagel::v1::CANCELLED);
}

TEST_F(ControlPlaneTest, SubmitValidatesAndIsIdempotent) {
  auto bad = cp_->SubmitJob(kAlice, "model: {stage: 3}\ntrain: {steps: -1}\n", "");
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("model.stage: got 3"), std::string::npos);
  auto outside = cp_->SubmitJob(
      kAlice, Spec(1, 0, 0, 3, "").replace(0, 44, "model: {stage: 1, init_from: {path: /etc}}"),
      "");
  ASSERT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(outside.status().message()).find("model.init_from.path: got /etc"),
            std::string::npos);
  EXPECT_EQ(cp_->JobCountForTest(), 0u);
  auto a = cp_->SubmitJob(kAlice, Spec(1, 0), "req-1");
  ASSERT_TRUE(a.ok());
  auto b = cp_->SubmitJob(kAlice, Spec(1, 0), "req-1");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->existing);
  EXPECT_EQ(a->job.id(), b->job.id());
  EXPECT_EQ(cp_->SubmitJob(kAlice, Spec(2, 0), "req-1").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(cp_->SubmitJob(kBob, Spec(1, 0), "req-1")->existing);  // per user
  EXPECT_EQ(cp_->SubmitJob(kAlice, Spec(1, 0), "bad id!").status().code(),
            absl::StatusCode::kInvalidArgument);
  // The request id survives a restart.
  Reopen();
  EXPECT_TRUE(cp_->SubmitJob(kAlice, Spec(1, 0), "req-1")->existing);
}

TEST_F(ControlPlaneTest, UsersSeeOnlyTheirJobsAndListPages) {
  std::vector<std::string> mine;
  for (int i = 0; i < 7; ++i) {
    mine.push_back(Submit(Spec(1, 0)));
    clock_.AdvanceMsForTest(1);
  }
  const std::string bobs = Submit(Spec(1, 0), kBob);
  EXPECT_EQ(cp_->GetJob(kAlice, bobs).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(cp_->GetJob(kRoot, bobs).ok());
  bagel::v1::ListJobsRequest req;
  req.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto r = cp_->ListJobs(kAlice, req);
    ASSERT_TRUE(r.ok());
    for (const auto& j : r->jobs()) {
      seen.push_back(j.id());
      EXPECT_TRUE(j.spec_yaml().empty());
    }
    if (r->next_page_token().empty()) break;
    req.set_page_token(r->next_page_token());
  }
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen.front(), mine.back());  // newest first
  req.Clear();
  req.set_owner("bob");
  EXPECT_EQ(cp_->ListJobs(kAlice, req).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(cp_->ListJobs(kRoot, req)->jobs_size(), 1);
  req.Clear();
  req.add_states(bagel::v1::RUNNING);
  EXPECT_EQ(cp_->ListJobs(kRoot, req)->jobs_size(), 0);
  req.Clear();
  req.set_page_token("garbage");
  EXPECT_EQ(cp_->ListJobs(kAlice, req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneTest, WatchSeesStateAndProgressUntilTheEnd) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  auto w = cp_->WatchJob(kAlice, id);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->snapshot.state(), bagel::v1::PENDING);
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  Line("w1", id, 0, R"({"event":"step","step":1,"total_steps":10,"ce":3.0})");
  Exit("w1", id, 0, 0, ExitCode::kDone);
  std::vector<bagel::v1::JobEvent> events;
  while (auto e = w->events->Pop(std::chrono::milliseconds(0))) events.push_back(*e);
  EXPECT_TRUE(w->events->closed());
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events[0].job().state(), bagel::v1::SCHEDULED);
  EXPECT_EQ(events[1].job().state(), bagel::v1::RUNNING);
  EXPECT_EQ(events[2].kind(), bagel::v1::JobEvent::PROGRESS);
  EXPECT_EQ(events.back().job().state(), bagel::v1::SUCCEEDED);
  EXPECT_EQ(cp_->WatchJob(kBob, id).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ControlPlaneTest, QuotaIsResourceExhausted) {
  cp_.reset();
  ControlPlaneOptions o;
  o.checkpoint_root = (root_ / "ckpt").string();
  o.max_active_jobs_per_user = 2;
  cp_ = std::make_unique<ControlPlane>(o, store_.get(), &clock_);
  ASSERT_TRUE(cp_->Recover().ok());
  Submit(Spec(1, 0));
  Submit(Spec(1, 0));
  EXPECT_EQ(cp_->SubmitJob(kAlice, Spec(1, 0), "").status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(ControlPlaneTest, LogPathsAttemptsAndTheExport) {
  auto q = AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  EXPECT_EQ(cp_->LogPath(kAlice, id, -1, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);  // not started yet
  EXPECT_EQ(cp_->ExportDir(kAlice, id).status().code(), absl::StatusCode::kFailedPrecondition);
  cp_->Tick();
  const fs::path logs = root_ / "ckpt" / id / "logs" / "attempt-0";
  auto a = Drain(q);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].log_dir(), logs.string());
  auto log = cp_->LogPath(kAlice, id, -1, 0);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->attempt, 0);
  EXPECT_TRUE(log->attempt_active);
  EXPECT_EQ(log->path, (logs / "rank-0.log").string());
  EXPECT_EQ(cp_->LogPath(kAlice, id, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cp_->LogPath(kAlice, id, 1, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cp_->LogPath(kBob, id, 0, 0).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(cp_->AttemptActive(id, 0));
  EXPECT_FALSE(cp_->AttemptActive(id, 1));
  EXPECT_FALSE(cp_->AttemptActive("j-nope", 0));
  // The trainer wrote its HF export but no "done" line: the export is found in the job directory.
  Started("w1", id, 0, {0}, 29500);
  fs::create_directories(root_ / "ckpt" / id / "hf");
  Exit("w1", id, 0, 0, ExitCode::kDone);
  EXPECT_EQ(State(id), bagel::v1::SUCCEEDED);
  EXPECT_FALSE(cp_->AttemptActive(id, 0));
  EXPECT_FALSE(cp_->LogPath(kAlice, id, 0, 0)->attempt_active);
  auto dir = cp_->ExportDir(kAlice, id);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, (root_ / "ckpt" / id / "hf").string());
  EXPECT_EQ(cp_->ExportDir(kBob, id).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace bagel::coord::cp_test
