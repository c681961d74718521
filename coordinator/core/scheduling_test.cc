// Scheduling: dependencies, priority, FIFO, gang placement.
#include "coordinator/core/control_plane_test_fixture.h"

namespace bagel::coord::cp_test {
namespace {

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
}  // namespace
}  // namespace bagel::coord::cp_test
