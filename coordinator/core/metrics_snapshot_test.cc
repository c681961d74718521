// SnapshotForMetrics: what the metrics exporter reads at scrape time.
#include "coordinator/core/metrics_snapshot.h"

#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

TEST_F(ControlPlaneTest, SnapshotCountsJobsAndWhatEachWorkerRuns) {
  AddWorker("w1", 4, 0);
  AddWorker("w2", 0, 2);
  const int64_t registered = clock_.NowMs();
  const std::string gpu_job = Submit(Spec(1, 2));
  clock_.AdvanceMsForTest(1);
  const std::string cpu_job = Submit(Spec(1, 0));
  clock_.AdvanceMsForTest(1);
  const std::string cancelled = Submit(Spec(1, 0));
  ASSERT_TRUE(cp_->CancelJob(kAlice, cancelled).ok());
  cp_->Tick();
  Started("w1", gpu_job, 0, {0, 1}, 29500);
  Line("w1", gpu_job, 0, R"({"event":"step","step":3,"total_steps":10,"tokens":100})");
  WriteCheckpoint(gpu_job, 2);
  ASSERT_TRUE(cp_->ListCheckpoints(kAlice, gpu_job).ok());  // finds it on disk
  clock_.AdvanceMsForTest(5);

  ClusterSnapshot s = cp_->SnapshotForMetrics();
  EXPECT_EQ(s.now_unix_ms, clock_.NowMs());
  EXPECT_EQ(s.jobs_by_state[bagel::v1::RUNNING], 1);
  EXPECT_EQ(s.jobs_by_state[bagel::v1::SCHEDULED], 1);
  EXPECT_EQ(s.jobs_by_state[bagel::v1::CANCELLED], 1);
  ASSERT_EQ(s.active_jobs.size(), 2u);  // a finished job has no per-job series
  for (const JobMetricsView& v : s.active_jobs) {
    EXPECT_EQ(v.owner, "alice");
    EXPECT_EQ(v.attempt, 0);
    EXPECT_GT(v.attempt_started_unix_ms, 0);
    if (v.id == gpu_job) {
      EXPECT_EQ(v.state, bagel::v1::RUNNING);
      EXPECT_EQ(v.world_size, 2);
      EXPECT_TRUE(v.has_step);
      EXPECT_EQ(v.progress.step(), 3);
      EXPECT_EQ(v.checkpoint_step, 2);
      EXPECT_EQ(v.checkpoint_bytes, 7);
      EXPECT_GT(v.checkpoint_unix_ms, 0);
    } else {
      EXPECT_EQ(v.id, cpu_job);
      EXPECT_EQ(v.state, bagel::v1::SCHEDULED);
      EXPECT_FALSE(v.has_step);
      EXPECT_EQ(v.checkpoint_step, -1);
    }
  }
  ASSERT_EQ(s.workers.size(), 2u);
  for (const WorkerMetricsView& v : s.workers) {
    EXPECT_EQ(v.state, bagel::v1::WORKER_READY);
    EXPECT_EQ(v.last_heartbeat_unix_ms, registered);
    if (v.name == "w1") {
      EXPECT_EQ(v.gpus, 4);
      EXPECT_EQ(v.gpus_in_use, 2);
      EXPECT_EQ(v.cpu_slots_in_use, 0);
    } else {
      EXPECT_EQ(v.name, "w2");
      EXPECT_EQ(v.cpu_slots, 2);
      EXPECT_EQ(v.cpu_slots_in_use, 1);
      EXPECT_EQ(v.gpus_in_use, 0);
    }
  }
}

}  // namespace
}  // namespace bagel::coord::cp_test
