// The fixture the ControlPlane tests share (control_plane_test.cc, job_api_test.cc,
// worker_api_test.cc, attempts_test.cc, progress_test.cc, checkpoint_files_test.cc,
// scheduling_test.cc, metrics_snapshot_test.cc): a control plane on a fresh SQLite store and a
// ManualClock, with helpers that play the agents' and the trainer's part.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "contract/checkpoint_layout.h"
#include "contract/exit_code.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/store/sqlite_store.h"

namespace bagel::coord::cp_test {

namespace fs = std::filesystem;
using bagel::v1::Assignment;
using contract::ExitCode;

inline const Principal kAlice{"alice", Principal::Kind::kUser};
inline const Principal kBob{"bob", Principal::Kind::kUser};
inline const Principal kRoot{"root", Principal::Kind::kAdmin};

inline std::string Spec(int workers, int gpus, int priority = 0, int max_restarts = 3,
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

  // `code` is an exit status: contract::ExitStatus(...), or 128 + N for signal N.
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
  void Exit(const std::string& worker, const std::string& job, int attempt, int rank,
            ExitCode code) {
    Exit(worker, job, attempt, rank, contract::ExitStatus(code));
  }

  // One line of the trainer's stdout, as rank `rank`'s agent forwards it.
  void Line(const std::string& worker, const std::string& job, int attempt, const std::string& json,
            int rank = 0) {
    bagel::v1::ReportProgressRequest r;
    r.set_name(worker);
    auto* l = r.add_lines();
    l->mutable_rank()->set_job_id(job);
    l->mutable_rank()->set_attempt(attempt);
    l->mutable_rank()->set_rank(rank);
    l->set_json(json);
    ASSERT_TRUE(cp_->ReportProgress(r).ok());
  }

  // A complete checkpoint on disk, as the trainer would publish it.
  std::string WriteCheckpoint(const std::string& job, int step) {
    const std::string name = contract::StepDirName(step);
    const fs::path dir = root_ / "ckpt" / job / name;
    fs::create_directories(dir);
    std::ofstream(dir / "rank-0-of-1.safetensors") << "weights";
    std::ofstream(dir / contract::kManifestFile)
        << R"({"files":[{"path":"rank-0-of-1.safetensors","size":7}]})";
    std::ofstream(root_ / "ckpt" / job / contract::kLatestFile) << name;
    return dir.string();
  }

  std::string Pinned(const std::string& job) {
    std::ifstream in(root_ / "ckpt" / job / contract::kPinnedFile);
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
    Exit(w, job, a[0].attempt(), 0, ExitCode::kDone);
    ASSERT_EQ(State(job), bagel::v1::SUCCEEDED);
  }

  fs::path root_;
  std::string db_;
  service::ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ControlPlane> cp_;
};

}  // namespace bagel::coord::cp_test
