// Checkpoints on disk and the PINNED files.
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

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
  Exit("w1", s2, 0, 0, ExitCode::kDone);
  EXPECT_EQ(Pinned(s1), "");
}

TEST_F(ControlPlaneTest, CheckpointsFollowTheDiskUnderTheContractsNames) {
  AddWorker("w1", 0);
  const std::string id = Submit(Spec(1, 0));
  cp_->Tick();
  Started("w1", id, 0, {0}, 29500);
  const fs::path dir = root_ / "ckpt" / id;
  WriteCheckpoint(id, 4);
  const std::string newest = WriteCheckpoint(id, 8);  // LATEST names it
  // Complete, but not step directories: too few digits, and a checkpoint being written.
  fs::copy(dir / contract::StepDirName(4), dir / "step-12", fs::copy_options::recursive);
  fs::copy(dir / contract::StepDirName(4),
           dir / (contract::StepDirName(16) + std::string(contract::kStagingSuffix)),
           fs::copy_options::recursive);
  auto cps = cp_->ListCheckpoints(kAlice, id);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 2u);
  EXPECT_EQ((*cps)[0].step(), 4);
  EXPECT_EQ((*cps)[1].step(), 8);
  EXPECT_EQ((*cps)[1].path(), newest);
  EXPECT_EQ((*cps)[1].bytes(), 7);
  EXPECT_FALSE((*cps)[1].final());
  EXPECT_FALSE((*cps)[1].pinned());  // a first attempt has no restart point
  // The trainer's retention deleted one: it is forgotten.
  fs::remove_all(dir / contract::StepDirName(4));
  cps = cp_->ListCheckpoints(kAlice, id);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].step(), 8);
  // The attempt succeeds without a "done" line: the final checkpoint is the one LATEST names.
  Exit("w1", id, 0, 0, ExitCode::kDone);
  auto job = cp_->GetJob(kAlice, id);
  EXPECT_EQ(job->state(), bagel::v1::SUCCEEDED);
  EXPECT_EQ(job->final_checkpoint(), newest);
  EXPECT_TRUE(job->hf_export().empty());  // no HF export was written
  cps = cp_->ListCheckpoints(kAlice, id);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_TRUE((*cps)[0].final());
  EXPECT_EQ(Pinned(id), "");
}

}  // namespace
}  // namespace bagel::coord::cp_test
