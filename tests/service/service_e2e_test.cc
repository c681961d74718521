// End-to-end tests of the control plane with real processes on loopback: bagel-coordinator,
// two bagel-worker agents and their trainers. Each test runs twice: with the test-only stand-in
// trainer (tests/service/standin_trainer.sh, always) and with the real bagel-train (skipped, with
// the reason, while the real trainer does not implement docs/TRAINER_CONTRACT.md's --spec).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/service/local_cluster.h"

namespace bagel::testing {
namespace {

namespace fs = std::filesystem;
using bagel::v1::Job;
using std::chrono::seconds;

// The real trainer: $BAGEL_TRAIN, else bagel-train beside the service binaries.
std::string RealTrainer() { return EnvOr("BAGEL_TRAIN", BinDir() + "/bagel-train"); }

// The test-only stand-in: $BAGEL_STANDIN_TRAINER, else tests/service/standin_trainer.sh.
std::string StandinTrainer() {
  return EnvOr("BAGEL_STANDIN_TRAINER", TestSourceDir() + "/standin_trainer.sh");
}

// Empty when the real trainer can run these tests, else why not.
std::string RealTrainerProblem() {
  const std::string path = RealTrainer();
  if (access(path.c_str(), X_OK) != 0)
    return "no bagel-train at " + path + " (build target bagel-train)";
  FILE* p = popen((path + " --help 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof(buf), p)) out += buf;
  if (p) pclose(p);
  if (out.find("--spec") == std::string::npos) {
    return "bagel-train at " + path + " does not accept --spec yet (docs/TRAINER_CONTRACT.md)";
  }
  return "";
}

struct Shape {
  int steps;
  int every;
  int long_steps;  // for tests that interrupt a run
  int timeout_s;
};

class ServiceE2eTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    real_ = GetParam() == "real";
    if (real_) {
      const std::string why = RealTrainerProblem();
      if (!why.empty()) GTEST_SKIP() << why;
      shape_ = {8, 2, 40, 600};
    } else {
      shape_ = {12, 4, 400, 120};
    }
    ClusterOptions o;
    o.trainer = real_ ? RealTrainer() : StandinTrainer();
    o.worker_env = {{"BAGEL_STANDIN_STEP_S", "0.1"},
                    {"BAGEL_STANDIN_COLLECTIVE_TIMEOUT_S", "4"},
                    {"OMP_NUM_THREADS", "1"}};
    const std::string name =
        absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::string clean;
    for (char c : name) clean += isalnum(static_cast<unsigned char>(c)) ? c : '-';
    cluster_ = std::make_unique<LocalCluster>(clean, o);
    cluster_->StartCoordinator();
    cluster_->StartWorker(0);
    cluster_->StartWorker(1);
    ASSERT_TRUE(cluster_->WaitForWorkers(2, seconds(30))) << "workers did not register";
  }

  std::string Spec(int steps, int workers, const std::string& model = "") {
    std::string m = model.empty() ? "model: {stage: 1, init_from: {preset: tiny}}\n" : model;
    std::string s = m + "data:\n  groups: [{name: demo, type: demo}]\n";
    if (real_) {
      s += "  expected_num_tokens: 512\n  max_num_tokens: 1024\n  max_num_tokens_per_sample: 512\n"
           "  prefer_buffer_before: 512\n";
    }
    s += absl::StrCat("train: {steps: ", steps, ", warmup_steps: 0, lr: 0.001, precision: fp32}\n",
                      "parallel: {workers: ", workers, ", gpus_per_worker: 0}\n",
                      "checkpoint: {every_steps: ", shape_.every,
                      // The real trainer checkpoints asynchronously (the GPU default) here, so
                      // kill -9, restarts and cancel are checked with a writer in flight.
                      ", keep_last: 2, export_hf: true", real_ ? ", async: true" : "", "}\n",
                      "scheduling: {max_restarts: 2}\n");
    return s;
  }

  Job WaitSucceeded(const std::string& id) {
    auto j = cluster_->WaitFor(
        id, [](const Job& j) { return j.state() == bagel::v1::SUCCEEDED; },
        seconds(shape_.timeout_s));
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? *j : Job();
  }

  std::string Logs(const std::string& id, int attempt, int rank) {
    bagel::v1::GetLogsRequest req;
    req.set_job_id(id);
    req.set_attempt(attempt);
    req.set_rank(rank);
    auto ctx = cluster_->Ctx();
    auto reader = cluster_->Jobs()->GetLogs(ctx.get(), req);
    bagel::v1::LogChunk chunk;
    std::string out;
    while (reader->Read(&chunk)) out += chunk.data();
    EXPECT_TRUE(reader->Finish().ok());
    return out;
  }

  bool real_ = false;
  Shape shape_{};
  std::unique_ptr<LocalCluster> cluster_;
};

TEST_P(ServiceE2eTest, TwoStageFlowOnTwoWorkers) {
  auto s1 = cluster_->Submit(Spec(shape_.steps, 2));
  ASSERT_TRUE(s1.ok()) << s1.status();
  std::string vae = cluster_->data_root() + "/ae.safetensors";
  if (real_) {
    // The Stage 2 trainer loads a real FLUX VAE: the tiny one of the reference cases.
    const std::string tiny = GoldenDir() + "/vae-tiny/checkpoint/ae.safetensors";
    if (!fs::exists(tiny)) GTEST_SKIP() << "no tiny VAE at " << tiny;
    fs::copy_file(tiny, vae);
  } else {
    std::ofstream(vae) << "stand-in vae";
  }
  auto s2 = cluster_->Submit(
      Spec(shape_.steps / 2, 2,
           "model: {stage: 2, init_from: {job: " + s1->id() + "}, vae: " + vae + "}\n"));
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->depends_on(), s1->id());
  EXPECT_EQ(s2->state(), bagel::v1::PENDING);

  const Job j1 = WaitSucceeded(s1->id());
  const Job j2 = WaitSucceeded(s2->id());
  ASSERT_EQ(j1.attempts_size(), 1);
  ASSERT_EQ(j1.attempts(0).placement_size(), 2);
  EXPECT_NE(j1.attempts(0).placement(0).worker(), j1.attempts(0).placement(1).worker());
  EXPECT_FALSE(j1.hf_export().empty());
  EXPECT_TRUE(fs::exists(j1.hf_export() + "/config.json"));
  EXPECT_TRUE(fs::exists(j1.final_checkpoint() + "/MANIFEST.json"));
  EXPECT_EQ(j2.attempts_size(), 1);
  EXPECT_EQ(j1.progress().step(), shape_.steps);

  // The Stage 2 ranks got the Stage 1 export as their init.
  bool found = false;
  for (int w = 0; w < 2; ++w) {
    std::ifstream in(
        absl::StrCat(cluster_->root(), "/work-w", w, "/", j2.id(), "/attempt-0/spec.yaml"));
    std::stringstream ss;
    ss << in.rdbuf();
    found |= ss.str().find(j1.hf_export()) != std::string::npos;
  }
  EXPECT_TRUE(found);

  // Checkpoints are catalogued, the final one is marked.
  bagel::v1::ListCheckpointsRequest req;
  req.set_job_id(j1.id());
  bagel::v1::ListCheckpointsResponse cps;
  auto ctx = cluster_->Ctx();
  ASSERT_TRUE(cluster_->Jobs()->ListCheckpoints(ctx.get(), req, &cps).ok());
  ASSERT_GE(cps.checkpoints_size(), 1);
  EXPECT_TRUE(cps.checkpoints(cps.checkpoints_size() - 1).final());

  // Every rank's log is kept per attempt; metrics are kept with the job.
  EXPECT_FALSE(Logs(j1.id(), 0, 0).empty());
  EXPECT_FALSE(Logs(j1.id(), 0, 1).empty());
  EXPECT_EQ(cluster_->StepLosses(j1.id()).size(), static_cast<size_t>(shape_.steps));
  // No secret in the coordinator's log.
  const std::string log = cluster_->ReadCoordinatorLog();
  for (const char* secret : {kAliceToken, kBobToken, kAdminToken, kJoinToken}) {
    EXPECT_EQ(log.find(secret), std::string::npos);
  }
}

// The memory options of a job spec reach the trainer through the service: LoRA adapters with
// the optimizer step offloaded to the host, the PEFT adapter in the export.
TEST_P(ServiceE2eTest, LoraWithOptimizerOffloadThroughTheService) {
  if (!real_) GTEST_SKIP() << "the stand-in trainer has no model";
  std::string spec = Spec(shape_.steps / 2, 2) + "lora: {rank: 4, alpha: 8}\n";
  const std::string plain = "precision: fp32}";
  ASSERT_NE(spec.find(plain), std::string::npos);
  spec.replace(spec.find(plain), plain.size(), "precision: fp32, optimizer_offload: true}");
  auto job = cluster_->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  const Job done = WaitSucceeded(job->id());
  EXPECT_EQ(done.progress().step(), shape_.steps / 2);
  EXPECT_TRUE(fs::exists(done.hf_export() + "/adapter/adapter_config.json")) << done.hf_export();
  EXPECT_TRUE(fs::exists(done.hf_export() + "/ema.safetensors"));
}

TEST_P(ServiceE2eTest, KillNineOfATrainerResumesWithTheSameFinalLosses) {
  const int steps = shape_.steps;
  auto ref = cluster_->Submit(Spec(steps, 2));
  ASSERT_TRUE(ref.ok());
  WaitSucceeded(ref->id());
  const auto want = cluster_->StepLosses(ref->id());
  ASSERT_EQ(want.size(), static_cast<size_t>(steps));

  auto job = cluster_->Submit(Spec(steps, 2));
  ASSERT_TRUE(job.ok());
  // Past the first checkpoint, before the end.
  auto running = cluster_->WaitFor(
      job->id(),
      [&](const Job& j) {
        return j.state() == bagel::v1::RUNNING && j.progress().step() > shape_.every;
      },
      seconds(shape_.timeout_s));
  ASSERT_TRUE(running.ok()) << running.status();
  const auto pids = cluster_->TrainerPids(job->id(), 0);
  ASSERT_EQ(pids.size(), 2u);
  ASSERT_EQ(kill(pids.at(1), SIGKILL), 0);

  // The coordinator aborts the attempt everywhere: rank 0 goes too, well before its own timeout.
  const auto until = std::chrono::steady_clock::now() + seconds(20);
  while (!cluster_->TrainerPids(job->id(), 0).empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(cluster_->TrainerPids(job->id(), 0).empty());

  const Job done = WaitSucceeded(job->id());
  EXPECT_EQ(done.restarts(), 1);
  ASSERT_EQ(done.attempts_size(), 2);
  EXPECT_EQ(done.attempts(0).state(), bagel::v1::ATTEMPT_FAILED);
  EXPECT_NE(done.attempts(0).reason().find("rank 1 exited with code 137"), std::string::npos)
      << done.attempts(0).reason();
  EXPECT_FALSE(done.attempts(1).resume_from().empty());
  const auto got = cluster_->StepLosses(done.id());
  ASSERT_EQ(got.size(), want.size());
  // Same losses as the uninterrupted run, the final one above all.
  EXPECT_EQ(got.at(steps), want.at(steps));
  for (const auto& [step, ce] : got) EXPECT_EQ(ce, want.at(step)) << "step " << step;
}

TEST_P(ServiceE2eTest, CoordinatorRestartMidRunKeepsTheJobRunning) {
  auto job = cluster_->Submit(Spec(shape_.steps * 3, 2));
  ASSERT_TRUE(job.ok());
  auto running = cluster_->WaitFor(
      job->id(),
      [](const Job& j) { return j.state() == bagel::v1::RUNNING && j.progress().step() >= 2; },
      seconds(shape_.timeout_s));
  ASSERT_TRUE(running.ok()) << running.status();
  const int port = cluster_->port();
  cluster_->StopCoordinator(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cluster_->StartCoordinator(port);
  ASSERT_EQ(cluster_->port(), port);
  const Job done = WaitSucceeded(job->id());
  EXPECT_EQ(done.restarts(), 0);
  EXPECT_EQ(done.attempts_size(), 1);
  // Progress reported while the coordinator was down reached it after the reconnect.
  EXPECT_EQ(done.progress().step(), shape_.steps * 3);
}

TEST_P(ServiceE2eTest, CancelStopsEveryRank) {
  auto job = cluster_->Submit(Spec(shape_.long_steps, 2));
  ASSERT_TRUE(job.ok());
  auto running = cluster_->WaitFor(
      job->id(),
      [](const Job& j) { return j.state() == bagel::v1::RUNNING && j.progress().step() >= 2; },
      seconds(shape_.timeout_s));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(cluster_->TrainerPids(job->id(), 0).size(), 2u);
  bagel::v1::CancelJobRequest req;
  req.set_job_id(job->id());
  bagel::v1::Job resp;
  auto ctx = cluster_->Ctx(kBobToken);
  EXPECT_EQ(cluster_->Jobs()->CancelJob(ctx.get(), req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const auto start = std::chrono::steady_clock::now();
  ctx = cluster_->Ctx();
  ASSERT_TRUE(cluster_->Jobs()->CancelJob(ctx.get(), req, &resp).ok());
  auto cancelled = cluster_->WaitFor(
      job->id(), [](const Job& j) { return j.state() == bagel::v1::CANCELLED; }, seconds(30));
  // WaitFor reports a terminal state other than the one asked for as an error.
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(real_ ? 30 : 10));
  EXPECT_TRUE(cluster_->TrainerPids(job->id(), 0).empty());
  // SIGTERM made the trainer checkpoint the step it stopped at (exit 3).
  EXPECT_TRUE(fs::exists(cluster_->ckpt_root() + "/" + job->id() + "/LATEST"));
  ctx = cluster_->Ctx();
  EXPECT_EQ(cluster_->Jobs()->CancelJob(ctx.get(), req, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_P(ServiceE2eTest, LostWorkerAbortsAndTheJobFinishesWhenItReturns) {
  // The trainer's part (dying with its agent) is the same for both; keep CI time for the rest.
  if (real_) GTEST_SKIP() << "covered with the stand-in trainer";
  auto job = cluster_->Submit(Spec(shape_.steps * 2, 2));
  ASSERT_TRUE(job.ok());
  auto running = cluster_->WaitFor(
      job->id(),
      [&](const Job& j) {
        return j.state() == bagel::v1::RUNNING && j.progress().step() > shape_.every;
      },
      seconds(shape_.timeout_s));
  ASSERT_TRUE(running.ok()) << running.status();
  // kill -9 of an agent: its ranks die with it (PDEATHSIG); its lease runs out.
  cluster_->StopWorker(1, SIGKILL);
  auto restarting = cluster_->WaitFor(
      job->id(), [](const Job& j) { return j.state() == bagel::v1::RESTARTING; }, seconds(30));
  ASSERT_TRUE(restarting.ok()) << restarting.status();
  EXPECT_NE(restarting->message().find("rank"), std::string::npos);
  cluster_->StartWorker(1);
  const Job done = WaitSucceeded(job->id());
  EXPECT_EQ(done.restarts(), 1);
}

INSTANTIATE_TEST_SUITE_P(Trainers, ServiceE2eTest, ::testing::Values("standin", "real"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace bagel::testing
