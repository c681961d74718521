#include "coordinator/core/control_plane.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "coordinator/store/sqlite_store.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using bagel::v1::Assignment;

const Principal kAlice{"alice", Principal::Kind::kUser};
const Principal kBob{"bob", Principal::Kind::kUser};
const Principal kRoot{"root", Principal::Kind::kAdmin};

std::string Spec(int workers, int gpus, int priority = 0, int max_restarts = 3,
                 const std::string& extra = "") {
  return "model: {stage: 1, init_from: {preset: tiny}}\n"
         "data: {groups: [{name: demo, type: demo}]}\n"
         "train: {steps: 10}\n"
         "parallel: {workers: " +
         std::to_string(workers) + ", gpus_per_worker: " + std::to_string(gpus) + "}\n" +
         "scheduling: {priority: " + std::to_string(priority) +
         ", max_restarts: " + std::to_string(max_restarts) + "}\n" + extra;
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            ("cp-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "ckpt");
    fs::create_directories(root_ / "data");
    db_ = (root_ / "state.db").string();
    Reopen();
  }

  void Reopen() {
    cp_.reset();
    store_.reset();
    store_ = std::move(*SqliteStore::Open(db_));
    ControlPlaneOptions o;
    o.checkpoint_root = (root_ / "ckpt").string();
    o.data_roots = {(root_ / "data").string()};
    o.lease_ttl_ms = 10000;
    o.heartbeat_interval_ms = 1000;
    o.abort_grace_ms = 1000;
    o.cancel_grace_ms = 5000;
    o.stop_timeout_ms = 20000;
    cp_ = std::make_unique<ControlPlane>(o, store_.get(), &clock_);
    ASSERT_TRUE(cp_->Recover().ok());
  }

  std::shared_ptr<AssignmentQueue> AddWorker(const std::string& name, int gpus, int cpu = 1,
                                             const std::string& inc = "i1") {
    bagel::v1::RegisterRequest r;
    r.set_name(name);
    r.set_address("10.0.0." + std::to_string(name.back() - '0'));
    r.set_gpus(gpus);
    r.set_cpu_slots(cpu);
    r.set_incarnation(inc);
    EXPECT_TRUE(cp_->Register(r).ok());
    auto q = cp_->OpenAssignments(name, inc);
    EXPECT_TRUE(q.ok());
    return *q;
  }

  std::vector<Assignment> Drain(const std::shared_ptr<AssignmentQueue>& q) {
    std::vector<Assignment> out;
    while (auto a = q->Pop(std::chrono::milliseconds(0))) out.push_back(*a);
    return out;
  }

  std::string Submit(const std::string& spec, const Principal& who = kAlice) {
    auto r = cp_->SubmitJob(who, spec, "");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job.id() : "";
  }

  bagel::v1::JobState State(const std::string& id) { return cp_->GetJob(kRoot, id)->state(); }

  void Started(const std::string& worker, const std::string& job, int attempt,
               std::vector<int> ranks, int port = 0) {
    bagel::v1::ReportStartedRequest r;
    r.set_name(worker);
    r.set_job_id(job);
    r.set_attempt(attempt);
    for (int x : ranks) r.add_ranks(x);
    if (port) {
      r.set_master_addr("10.0.0.1");
      r.set_master_port(port);
    }
    ASSERT_TRUE(cp_->ReportStarted(r).ok());
  }

  void Exit(const std::string& worker, const std::string& job, int attempt, int rank, int code) {
    bagel::v1::ReportExitRequest r;
    r.set_name(worker);
    auto* x = r.add_exits();
    x->mutable_rank()->set_job_id(job);
    x->mutable_rank()->set_attempt(attempt);
    x->mutable_rank()->set_rank(rank);
    x->set_exit_code(code);
    ASSERT_TRUE(cp_->ReportExit(r).ok());
  }

  void Line(const std::string& worker, const std::string& job, int attempt,
            const std::string& json) {
    bagel::v1::ReportProgressRequest r;
    r.set_name(worker);
    auto* l = r.add_lines();
    l->mutable_rank()->set_job_id(job);
    l->mutable_rank()->set_attempt(attempt);
    l->mutable_rank()->set_rank(0);
    l->set_json(json);
    ASSERT_TRUE(cp_->ReportProgress(r).ok());
  }

  // A complete checkpoint on disk, as the trainer would publish it.
  std::string WriteCheckpoint(const std::string& job, int step) {
    char name[32];
    std::snprintf(name, sizeof(name), "step-%08d", step);
    const fs::path dir = root_ / "ckpt" / job / name;
    fs::create_directories(dir);
    std::ofstream(dir / "rank-0-of-1.safetensors") << "weights";
    std::ofstream(dir / "MANIFEST.json")
        << R"({"files":[{"path":"rank-0-of-1.safetensors","size":7}]})";
    std::ofstream(root_ / "ckpt" / job / "LATEST") << name;
    return dir.string();
  }

  std::string Pinned(const std::string& job) {
    std::ifstream in(root_ / "ckpt" / job / "PINNED");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Runs a job with one CPU rank on worker `w` to success.
  void RunToSuccess(const std::string& job, const std::string& w,
                    const std::shared_ptr<AssignmentQueue>& q) {
    cp_->Tick();
    auto a = Drain(q);
    ASSERT_EQ(a.size(), 1u);
    Started(w, job, a[0].attempt(), {0}, 29500);
    const std::string ck = WriteCheckpoint(job, 10);
    fs::create_directories(root_ / "ckpt" / job / "hf");
    Line(w, job, a[0].attempt(),
         R"({"event":"done","step":10,"final_checkpoint":")" + ck + R"(","hf_export":")" +
             (root_ / "ckpt" / job / "hf").string() + R"("})");
    Exit(w, job, a[0].attempt(), 0, 0);
    ASSERT_EQ(State(job), bagel::v1::SUCCEEDED);
  }

  fs::path root_;
  std::string db_;
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ControlPlane> cp_;
};

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
  Exit(w1, id, 0, 1, 0);
  EXPECT_EQ(State(id), bagel::v1::RUNNING);
  Exit(w0, id, 0, 0, 0);
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
  Exit(w0, id, 0, 0, 4);  // rank 0 saw the collective fail
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
  Exit(r0, id, 1, 0, 1);
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
  Exit("w1", id, 0, 0, 2);
  EXPECT_EQ(State(id), bagel::v1::FAILED);
}

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
  Exit("w1", running, 0, 0, 3);  // checkpointed on SIGTERM
  EXPECT_EQ(State(running), bagel::v1::CANCELLED);
}

TEST_F(ControlPlaneTest, StageTwoWaitsForStageOneAndPinsItsFinalCheckpoint) {
  auto q = AddWorker("w1", 0);
  const std::string s1 = Submit(Spec(1, 0));
  fs::create_directories(root_ / "data");
  std::ofstream(root_ / "data" / "ae.safetensors") << "vae";
  const std::string s2spec = "model: {stage: 2, init_from: {job: " + s1 +
                             "}, vae: " + (root_ / "data" / "ae.safetensors").string() +
                             "}\n"
                             "data: {groups: [{name: demo, type: demo}]}\n"
                             "train: {steps: 5}\nparallel: {workers: 1, gpus_per_worker: 0}\n";
  const std::string s2 = Submit(s2spec);
  auto j2 = cp_->GetJob(kAlice, s2);
  EXPECT_EQ(j2->depends_on(), s1);
  EXPECT_NE(j2->message().find("waiting for job " + s1), std::string::npos);
  RunToSuccess(s1, "w1", q);
  EXPECT_NE(Pinned(s1).find("step-00000010"), std::string::npos);
  cp_->Tick();
  auto a = Drain(q);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].job_id(), s2);
  // The dependency is resolved to its HF export.
  EXPECT_NE(a[0].spec_yaml().find((root_ / "ckpt" / s1 / "hf").string()), std::string::npos);
  EXPECT_EQ(a[0].spec_yaml().find("job:"), std::string::npos);
  auto cps = cp_->ListCheckpoints(kAlice, s1);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_TRUE((*cps)[0].final());
  EXPECT_TRUE((*cps)[0].pinned());
  ASSERT_EQ((*cps)[0].pinned_by_size(), 1);
  EXPECT_EQ((*cps)[0].pinned_by(0), "initialises job " + s2);
  // Stage 2 finishes: the pin goes.
  Started("w1", s2, 0, {0}, 29501);
  Exit("w1", s2, 0, 0, 0);
  EXPECT_EQ(Pinned(s1), "");
}

TEST_F(ControlPlaneTest, DependentOfAFailedJobFails) {
  AddWorker("w1", 0);
  const std::string s1 = Submit(Spec(1, 0));
  const std::string s2 = Submit("model: {stage: 1, init_from: {job: " + s1 +
                                "}}\n"
                                "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 5}\n"
                                "parallel: {workers: 1, gpus_per_worker: 0}\n");
  ASSERT_TRUE(cp_->CancelJob(kAlice, s1).ok());
  cp_->Tick();
  EXPECT_EQ(State(s2), bagel::v1::FAILED);
  // A new dependent of the cancelled job is refused at submit.
  auto r = cp_->SubmitJob(kAlice,
                          "model: {stage: 1, init_from: {job: " + s1 +
                              "}}\n"
                              "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 5}\n",
                          "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  r = cp_->SubmitJob(kAlice,
                     "model: {stage: 1, init_from: {job: j-unknown}}\n"
                     "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 5}\n",
                     "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  // Another user's job is not a valid dependency either.
  r = cp_->SubmitJob(kBob,
                     "model: {stage: 1, init_from: {job: " + s1 +
                         "}}\n"
                         "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 5}\n",
                     "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneTest, PriorityThenFifoWithoutBackfillPastAFittingJob) {
  auto q = AddWorker("w1", 4, 0);
  const std::string low = Submit(Spec(1, 1, 0));
  clock_.AdvanceMsForTest(1);
  const std::string big = Submit(Spec(1, 4, 5));
  clock_.AdvanceMsForTest(1);
  const std::string high = Submit(Spec(1, 2, 10));
  clock_.AdvanceMsForTest(1);
  const std::string huge = Submit(Spec(3, 4, 50));  // can never fit: does not block
  cp_->Tick();
  EXPECT_EQ(State(high), bagel::v1::SCHEDULED);
  // `big` fits later (4 GPUs): it waits, and `low` may not jump ahead of it.
  EXPECT_EQ(State(big), bagel::v1::PENDING);
  EXPECT_EQ(State(low), bagel::v1::PENDING);
  EXPECT_NE(cp_->GetJob(kAlice, huge)->message().find("waiting for workers"), std::string::npos);
  EXPECT_NE(cp_->GetJob(kAlice, low)->message().find("queued behind"), std::string::npos);
  auto a = Drain(q);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(a[0].use_gpus());
  EXPECT_EQ(a[0].num_ranks(), 2);
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
  Exit("w1", id, 0, 0, 0);
  EXPECT_EQ(State(id), bagel::v1::SUCCEEDED);
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
  Exit("w1", id, 0, 0, 0);
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

}  // namespace
}  // namespace bagel::coord
