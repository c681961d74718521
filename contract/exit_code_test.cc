#include "contract/exit_code.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace bagel::contract {
namespace {

TEST(ExitReasonTest, MapsTheTrainerContractsStatuses) {
  EXPECT_STREQ(ExitReason(0), "completed");
  EXPECT_STREQ(ExitReason(1), "failed");
  EXPECT_STREQ(ExitReason(2), "invalid_spec");
  EXPECT_STREQ(ExitReason(3), "stopped");
  EXPECT_STREQ(ExitReason(ExitStatus(ExitCode::kCollectiveFailed)), "collective_failure");
  EXPECT_STREQ(ExitReason(127), "launch_failure");
  EXPECT_STREQ(ExitReason(128 + 9), "signal");
  EXPECT_STREQ(ExitReason(-1), "lost");
  EXPECT_STREQ(ExitReason(77), "failed");
}

TEST(ExitReasonTest, OnlyAnInvalidSpecIsNeverRestarted) {
  EXPECT_FALSE(RestartMayHelp(ExitStatus(ExitCode::kInvalidSpec)));
  for (ExitCode c : {ExitCode::kFailed, ExitCode::kStopped, ExitCode::kCollectiveFailed,
                     ExitCode::kLaunchFailed}) {
    EXPECT_TRUE(RestartMayHelp(ExitStatus(c)));
  }
}

TEST(ExitReasonTest, EveryReasonIsListed) {
  const auto& all = AllExitReasons();
  for (int code = -3; code < 300; ++code) {
    const std::string r = ExitReason(code);
    EXPECT_NE(std::find_if(all.begin(), all.end(), [&](const char* x) { return r == x; }),
              all.end())
        << r;
  }
}

}  // namespace
}  // namespace bagel::contract
