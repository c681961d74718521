// Load with no error: submissions from several client threads while simulated workers (in-process
// gRPC clients) heartbeat and run every job through the scheduler. CI runs small counts
// (BAGEL_LOAD_SUBMISSIONS, BAGEL_LOAD_WORKERS raise them); bagel-control-plane-bench runs the
// full 1,000 submissions and 100 workers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "tests/service/in_process_coordinator.h"
#include "tests/service/load_driver.h"

namespace bagel::testing {
namespace {

int Env(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

TEST(LoadTest, SubmissionsAndHeartbeatsWithoutError) {
  InProcessCoordinator coord("load");
  LoadOptions o;
  o.target = coord.target();
  o.user_token = kAliceToken;
  o.join_token = kJoinToken;
  o.submissions = Env("BAGEL_LOAD_SUBMISSIONS", 200);
  o.workers = Env("BAGEL_LOAD_WORKERS", 20);
  o.client_threads = 4;
  o.drain_timeout_s = 120;
  const LoadResult r = RunLoad(o);
  std::cout << r.Summary();
  EXPECT_EQ(r.submit_ok, o.submissions);
  EXPECT_EQ(r.submit_errors, 0);
  EXPECT_EQ(r.heartbeat_errors, 0);
  EXPECT_EQ(r.report_errors, 0);
  EXPECT_GT(r.heartbeats_ok, o.workers);
  EXPECT_EQ(r.jobs_succeeded, o.submissions);
  EXPECT_EQ(r.jobs_started, o.submissions);
}

}  // namespace
}  // namespace bagel::testing
