#include "worker/agent/rank_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace bagel::agent {
namespace {

namespace fs = std::filesystem;

struct Result {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;
  int code = -999;
  std::string last_err;

  bool WaitExit(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, limit, [&] { return code != -999; });
  }
};

std::unique_ptr<RankProcess> Launch(const std::string& script, Result& r, const std::string& log) {
  LaunchSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {"PATH=/usr/bin:/bin", "GREETING=hello"};
  spec.log_path = log;
  auto p = RankProcess::Start(
      spec,
      [&r](const std::string& line) {
        std::lock_guard<std::mutex> lock(r.mu);
        r.lines.push_back(line);
      },
      [&r](int code, const std::string& err) {
        std::lock_guard<std::mutex> lock(r.mu);
        r.code = code;
        r.last_err = err;
        r.cv.notify_all();
      });
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(*p);
}

std::string Log(const std::string& name) {
  return (fs::path(::testing::TempDir()) / "rank-process" / name).string();
}

TEST(RankProcessTest, LinesLogAndExitCode) {
  Result r;
  const std::string log = Log("a.log");
  fs::remove(log);
  auto p = Launch("echo '{\"event\":\"started\"}'; echo $GREETING; echo oops >&2; exit 3", r, log);
  ASSERT_TRUE(r.WaitExit(std::chrono::seconds(10)));
  p.reset();
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.last_err, "oops");
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0], "{\"event\":\"started\"}");
  EXPECT_EQ(r.lines[1], "hello");
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("hello"), std::string::npos);
  EXPECT_NE(ss.str().find("oops"), std::string::npos);
}

TEST(RankProcessTest, SignalsReachTheGroupAndAreReported) {
  Result r;
  auto p = Launch("sleep 30 & sleep 30; wait", r, Log("b.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  p->Signal(SIGKILL);
  ASSERT_TRUE(r.WaitExit(std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(r.code, 128 + SIGKILL);
  EXPECT_TRUE(p->exited());
}

TEST(RankProcessTest, TermHandlerRuns) {
  Result r;
  auto p = Launch("trap 'echo stopping; exit 3' TERM; echo ready; while true; do sleep 0.05; done",
                  r, Log("c.log"));
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lock(r.mu);
      if (!r.lines.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  p->Signal(SIGTERM);
  ASSERT_TRUE(r.WaitExit(std::chrono::seconds(10)));
  EXPECT_EQ(r.code, 3);
}

TEST(RankProcessTest, ExecFailureIs127) {
  Result r;
  LaunchSpec spec;
  spec.argv = {"/nonexistent/bagel-train"};
  spec.log_path = Log("d.log");
  auto p = RankProcess::Start(spec, nullptr, [&r](int code, const std::string&) {
    std::lock_guard<std::mutex> lock(r.mu);
    r.code = code;
    r.cv.notify_all();
  });
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(r.WaitExit(std::chrono::seconds(10)));
  EXPECT_EQ(r.code, 127);
}

TEST(PickFreeTcpPortTest, GivesAPort) {
  auto p = PickFreeTcpPort();
  ASSERT_TRUE(p.ok());
  EXPECT_GT(*p, 0);
  EXPECT_LT(*p, 65536);
}

}  // namespace
}  // namespace bagel::agent
