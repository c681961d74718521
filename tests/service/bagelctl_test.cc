// bagelctl's commands against a coordinator in this process, with the clock injected: what they
// print about time (a job's age) follows the test's clock, as the coordinator's does.
#include <gtest/gtest.h>

#include "coordinator/bagelctl/ctl.h"
#include "service/common/clock.h"
#include "tests/service/in_process_coordinator.h"

namespace bagel::testing {
namespace {

TEST(BagelctlTest, AgesFollowTheInjectedClock) {
  InProcessCoordinator coord("bagelctl");
  auto jobs = bagel::v1::JobService::NewStub(coord.Channel());
  bagel::v1::SubmitJobRequest req;
  req.set_spec_yaml(
      "name: aged\nmodel: {stage: 1, init_from: {preset: tiny}}\n"
      "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 5}\n");
  bagel::v1::SubmitJobResponse resp;
  auto ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
  ASSERT_TRUE(jobs->SubmitJob(ctx.get(), req, &resp).ok());
  const int64_t created = resp.job().created_unix_ms();
  ASSERT_GT(created, 0);

  ctl::Globals g;
  g.client.target = coord.target();
  g.client.token = kAliceToken;
  service::ManualClock clock(created + 125'000);
  ctl::Ctl ctl(g, &clock);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(ctl.List({}, "", "", 10), 0);
  const std::string two_minutes = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(two_minutes.find(resp.job().id()), std::string::npos) << two_minutes;
  EXPECT_NE(two_minutes.find("2m05s"), std::string::npos) << two_minutes;

  clock.AdvanceMsForTest(3 * 3600 * 1000);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(ctl.List({}, "", "", 10), 0);
  EXPECT_NE(::testing::internal::GetCapturedStdout().find("3h02m"), std::string::npos);

  // get names the job's TensorBoard run beside its checkpoints.
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(ctl.Get(resp.job().id()), 0);
  const std::string got = ::testing::internal::GetCapturedStdout();
  const std::string dir = resp.job().checkpoint_dir() + "/tensorboard";
  EXPECT_NE(got.find("tensorboard: " + dir + "  (tensorboard --logdir " + dir + ")"),
            std::string::npos)
      << got;
}

}  // namespace
}  // namespace bagel::testing
