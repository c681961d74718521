#include "coordinator/metrics/coordinator_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "coordinator/core/control_plane.h"
#include "coordinator/store/sqlite_store.h"
#include "service/metrics/build_info.h"

namespace bagel::metrics {
namespace {

namespace fs = std::filesystem;
using coord::Principal;
using Labels = std::map<std::string, std::string>;

const Principal kAlice{"alice", Principal::Kind::kUser};

// The value of the series `name{labels}` (all of its labels), NaN when absent. Histograms: the
// sample count.
double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const Labels& labels = {}) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      Labels have;
      for (const auto& l : m.label) have[l.name] = l.value;
      if (have != labels) continue;
      switch (f.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return m.gauge.value;
      }
    }
  }
  return std::nan("");
}

bool HasFamily(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return true;
  }
  return false;
}

std::string Spec(int stage, int max_restarts) {
  return std::string("model: {stage: ") + std::to_string(stage) + ", init_from: {preset: tiny}}\n" +
         "data: {groups: [{name: demo, type: demo}]}\n"
         "train: {steps: 10}\n"
         "parallel: {workers: 1, gpus_per_worker: 0}\n"
         "scheduling: {max_restarts: " +
         std::to_string(max_restarts) + "}\n";
}

class CoordinatorMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            ("cm-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "ckpt");
    store_ = std::move(*coord::SqliteStore::Open((root_ / "state.db").string()));
    coord::ControlPlaneOptions o;
    o.checkpoint_root = (root_ / "ckpt").string();
    o.lease_ttl_ms = 10000;
    o.heartbeat_interval_ms = 1000;
    metrics_ = CoordinatorMetrics::Create();
    cp_ = std::make_unique<coord::ControlPlane>(o, store_.get(), &clock_, metrics_.get());
    ASSERT_TRUE(cp_->Recover().ok());
    metrics_->SetSnapshotSource([this] { return cp_->SnapshotForMetrics(); });
  }

  std::shared_ptr<coord::AssignmentQueue> AddWorker(const std::string& name) {
    bagel::v1::RegisterRequest r;
    r.set_name(name);
    r.set_address("10.0.0.1");
    r.set_cpu_slots(1);
    r.set_gpus(2);
    r.set_incarnation("i1");
    EXPECT_TRUE(cp_->Register(r).ok());
    return *cp_->OpenAssignments(name, "i1");
  }

  void Started(const std::string& job, int attempt) {
    bagel::v1::ReportStartedRequest r;
    r.set_name("w1");
    r.set_job_id(job);
    r.set_attempt(attempt);
    r.add_ranks(0);
    r.set_master_addr("10.0.0.1");
    r.set_master_port(29500);
    ASSERT_TRUE(cp_->ReportStarted(r).ok());
  }

  void Line(const std::string& job, int attempt, const std::string& json) {
    bagel::v1::ReportProgressRequest r;
    r.set_name("w1");
    auto* l = r.add_lines();
    l->mutable_rank()->set_job_id(job);
    l->mutable_rank()->set_attempt(attempt);
    l->mutable_rank()->set_rank(0);
    l->set_json(json);
    ASSERT_TRUE(cp_->ReportProgress(r).ok());
  }

  void Exit(const std::string& job, int attempt, int code) {
    bagel::v1::ReportExitRequest r;
    r.set_name("w1");
    auto* x = r.add_exits();
    x->mutable_rank()->set_job_id(job);
    x->mutable_rank()->set_attempt(attempt);
    x->mutable_rank()->set_rank(0);
    x->set_exit_code(code);
    ASSERT_TRUE(cp_->ReportExit(r).ok());
  }

  fs::path root_;
  service::ManualClock clock_;
  std::unique_ptr<coord::SqliteStore> store_;
  std::shared_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<coord::ControlPlane> cp_;
};

TEST_F(CoordinatorMetricsTest, FollowsAJobThroughARestartToSuccess) {
  auto q = AddWorker("w1");
  auto f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_build_info",
                  {{"component", "coordinator"},
                   {"version", BuildVersion()},
                   {"revision", BuildRevision()}}),
            1);
  EXPECT_EQ(Value(f, "bagel_workers", {{"state", "READY"}}), 1);
  EXPECT_EQ(Value(f, "bagel_cluster_gpus", {{"state", "free"}}), 2);
  EXPECT_FALSE(HasFamily(f, "bagel_job_info"));  // no unfinished job: no per-job family at all

  auto submitted = cp_->SubmitJob(kAlice, Spec(1, 2), "");
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job.id();
  f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_jobs_submitted_total"), 1);
  EXPECT_EQ(Value(f, "bagel_jobs", {{"state", "PENDING"}}), 1);
  EXPECT_EQ(Value(f, "bagel_jobs", {{"state", "SUCCEEDED"}}), 0);
  EXPECT_EQ(
      Value(f, "bagel_job_info",
            {{"job_id", id}, {"name", id}, {"owner", "alice"}, {"stage", "1"}, {"depends_on", ""}}),
      1);
  EXPECT_EQ(Value(f, "bagel_job_state", {{"job_id", id}, {"state", "PENDING"}}), 1);
  EXPECT_EQ(Value(f, "bagel_train_target_steps", {{"job_id", id}}), 10);
  EXPECT_TRUE(std::isnan(Value(f, "bagel_train_loss", {{"job_id", id}, {"head", "ce"}})));

  clock_.AdvanceMsForTest(3000);
  cp_->Tick();
  clock_.AdvanceMsForTest(500);
  Started(id, 0);
  Line(id, 0,
       R"({"event":"step","step":1,"total_steps":10,"ce":2.5,"mse":0.0,"lr":0.001,)"
       R"("grad_norm":1.5,"tokens":100,"tokens_per_s":50,"step_time_s":2,"mfu":0.25,)"
       R"("mem_bytes":4096})");
  clock_.AdvanceMsForTest(1000);
  Line(id, 0,
       R"({"event":"step","step":2,"total_steps":10,"ce":2.25,"lr":0.001,"tokens":100,)"
       R"("step_time_s":1})");
  Line(id, 0,
       R"({"event":"checkpoint","step":2,"path":"/x/step-00000002","bytes":1000,)"
       R"("seconds":1.5,"blocking_s":0.125})");
  Line(id, 0, R"({"event":"eval","step":2,"val_ce":2.75,"val_mse":0.5})");
  f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_job_queue_wait_seconds"), 1);
  EXPECT_EQ(Value(f, "bagel_scheduling_latency_seconds"), 1);
  EXPECT_GE(Value(f, "bagel_scheduler_pass_duration_seconds"), 1);
  EXPECT_EQ(Value(f, "bagel_job_state", {{"job_id", id}, {"state", "RUNNING"}}), 1);
  EXPECT_EQ(Value(f, "bagel_cluster_cpu_slots", {{"state", "allocated"}}), 1);
  EXPECT_EQ(Value(f, "bagel_train_step", {{"job_id", id}}), 2);
  EXPECT_EQ(Value(f, "bagel_train_loss", {{"job_id", id}, {"head", "ce"}}), 2.25);
  // Stage 1 has no generation head.
  EXPECT_TRUE(std::isnan(Value(f, "bagel_train_loss", {{"job_id", id}, {"head", "mse"}})));
  EXPECT_EQ(Value(f, "bagel_train_validation_loss", {{"job_id", id}, {"head", "ce"}}), 2.75);
  EXPECT_EQ(Value(f, "bagel_train_tokens_total", {{"job_id", id}}), 200);
  EXPECT_EQ(Value(f, "bagel_train_step_duration_seconds", {{"job_id", id}}), 1);
  EXPECT_EQ(Value(f, "bagel_train_learning_rate", {{"job_id", id}}), 0.001);
  EXPECT_DOUBLE_EQ(Value(f, "bagel_train_last_progress_timestamp_seconds", {{"job_id", id}}),
                   clock_.NowMs() / 1000.0);
  EXPECT_EQ(Value(f, "bagel_checkpoint_save_duration_seconds"), 1);
  EXPECT_EQ(Value(f, "bagel_checkpoint_written_bytes_total"), 1000);
  EXPECT_EQ(Value(f, "bagel_checkpoint_last_step", {{"job_id", id}}), 2);
  EXPECT_EQ(Value(f, "bagel_checkpoint_last_save_duration_seconds", {{"job_id", id}}), 1.5);
  EXPECT_EQ(Value(f, "bagel_checkpoint_blocking_duration_seconds"), 1);  // one observation
  EXPECT_EQ(Value(f, "bagel_checkpoint_last_blocking_duration_seconds", {{"job_id", id}}), 0.125);

  // A collective timeout: the rank exits 4, the job restarts.
  Exit(id, 0, 4);
  f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_rank_exits_total", {{"reason", "collective_failure"}}), 1);
  EXPECT_EQ(Value(f, "bagel_restarts_total"), 1);
  EXPECT_EQ(Value(f, "bagel_job_restarts_total", {{"job_id", id}}), 1);
  EXPECT_EQ(Value(f, "bagel_job_state", {{"job_id", id}, {"state", "RESTARTING"}}), 1);

  cp_->Tick();
  Started(id, 1);
  Exit(id, 1, 0);
  f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_jobs_finished_total", {{"state", "SUCCEEDED"}}), 1);
  EXPECT_EQ(Value(f, "bagel_jobs", {{"state", "SUCCEEDED"}}), 1);
  EXPECT_EQ(Value(f, "bagel_rank_exits_total", {{"reason", "completed"}}), 1);
  // Every series labelled job_id is gone with the job.
  for (const auto& fam : f) {
    for (const auto& m : fam.metric) {
      for (const auto& l : m.label) EXPECT_NE(l.name, "job_id") << fam.name;
    }
  }
  EXPECT_EQ(Value(f, "bagel_jobs_finished_total", {{"state", "FAILED"}}), 0);
}

TEST_F(CoordinatorMetricsTest, StageTwoExportsTheMseHead) {
  AddWorker("w1");
  // Stage 2 needs a VAE file under the configured roots.
  const fs::path vae = root_ / "ckpt" / "data" / "ae.safetensors";
  fs::create_directories(vae.parent_path());
  std::ofstream(vae) << "vae";
  std::string spec = Spec(2, 0);
  spec.insert(spec.find("init_from"), "vae: " + vae.string() + ", ");
  auto s = cp_->SubmitJob(kAlice, spec, "");
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string id = s->job.id();
  cp_->Tick();
  Started(id, 0);
  Line(id, 0, R"({"event":"step","step":1,"ce":2.0,"mse":0.75,"tokens":10,"step_time_s":1})");
  auto f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_train_loss", {{"job_id", id}, {"head", "mse"}}), 0.75);
  EXPECT_EQ(Value(f, "bagel_train_loss", {{"job_id", id}, {"head", "ce"}}), 2.0);
}

TEST_F(CoordinatorMetricsTest, LostWorkersAreCountedAndShown) {
  AddWorker("w1");
  clock_.AdvanceMsForTest(20000);
  cp_->Tick();
  auto f = metrics_->Collect();
  EXPECT_EQ(Value(f, "bagel_worker_leases_expired_total"), 1);
  EXPECT_EQ(Value(f, "bagel_workers", {{"state", "LOST"}}), 1);
  EXPECT_EQ(Value(f, "bagel_workers", {{"state", "READY"}}), 0);
  EXPECT_EQ(Value(f, "bagel_cluster_gpus", {{"state", "free"}}), 0);
  EXPECT_EQ(Value(f, "bagel_worker_last_heartbeat_timestamp_seconds", {{"worker", "w1"}}),
            (clock_.NowMs() - 20000) / 1000.0);
  // An hour after its last heartbeat a lost worker's series is gone (names do not pile up).
  clock_.AdvanceMsForTest(3600 * 1000);
  f = metrics_->Collect();
  EXPECT_TRUE(
      std::isnan(Value(f, "bagel_worker_last_heartbeat_timestamp_seconds", {{"worker", "w1"}})));
  EXPECT_EQ(Value(f, "bagel_workers", {{"state", "LOST"}}), 1);
}

TEST_F(CoordinatorMetricsTest, EveryFamilyIsInTheCatalogueWithItsTypeAndHelp) {
  AddWorker("w1");
  auto s = cp_->SubmitJob(kAlice, Spec(1, 0), "");
  ASSERT_TRUE(s.ok());
  cp_->Tick();
  Started(s->job.id(), 0);
  Line(s->job.id(), 0, R"({"event":"step","step":1,"ce":2.0,"tokens":10,"step_time_s":1})");
  std::map<std::string, const MetricDef*> catalogue;
  for (const auto& d : CoordinatorMetrics::Catalogue()) {
    EXPECT_TRUE(catalogue.emplace(d.name, &d).second) << "duplicate " << d.name;
  }
  std::set<std::string> seen;
  for (const auto& f : metrics_->Collect()) {
    ASSERT_TRUE(catalogue.count(f.name)) << f.name << " is not in the catalogue";
    const MetricDef& d = *catalogue[f.name];
    EXPECT_EQ(f.type, d.type) << f.name;
    EXPECT_EQ(f.help, d.help) << f.name;
    EXPECT_TRUE(seen.insert(f.name).second) << "family twice: " << f.name;
    const auto names = LabelNames(d);
    for (const auto& m : f.metric) {
      ASSERT_EQ(m.label.size(), names.size()) << f.name;
      for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(m.label[i].name, names[i]) << f.name;
    }
  }
  // Not yet seen: validation loss (no eval), checkpoint values (none published).
  for (const auto& [name, d] : catalogue) {
    if (name.find("validation") != std::string::npos ||
        name.find("checkpoint_last") != std::string::npos) {
      continue;
    }
    EXPECT_TRUE(seen.count(name)) << name << " was not exported while a job ran";
  }
  // The text exposition renders.
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, metrics_->Collect());
  EXPECT_NE(text.str().find("# TYPE bagel_train_mfu_ratio gauge"), std::string::npos);
}

}  // namespace
}  // namespace bagel::metrics
