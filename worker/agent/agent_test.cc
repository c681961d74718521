// The agent on its own: a scripted WorkerService on a loopback port stands in for the
// coordinator, and small shell scripts for bagel-train. Time comes from a ManualClock, so
// report timestamps and the STOP grace period are the test's to control.
#include "worker/agent/agent.h"

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include <signal.h>

#include "testing/temp_dir.h"

namespace bagel::agent {
namespace {

namespace fs = std::filesystem;
using bagel::v1::Assignment;

class FakeCoordinator final : public bagel::v1::WorkerService::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const bagel::v1::RegisterRequest* req,
                        bagel::v1::RegisterResponse* resp) override {
    std::lock_guard<std::mutex> l(mu_);
    registers_.push_back(*req);
    resp->set_heartbeat_interval_ms(100);
    resp->set_lease_ttl_ms(60000);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const bagel::v1::HeartbeatRequest*,
                         bagel::v1::HeartbeatResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Assignments(grpc::ServerContext* ctx, const bagel::v1::AssignmentsRequest*,
                           grpc::ServerWriter<Assignment>* writer) override {
    while (!ctx->IsCancelled()) {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(50), [&] { return !queue_.empty() || closed_; });
      if (closed_) return grpc::Status::OK;
      while (!queue_.empty()) {
        Assignment a = queue_.front();
        queue_.pop_front();
        l.unlock();
        writer->Write(a);
        l.lock();
      }
    }
    return grpc::Status::OK;
  }
  grpc::Status ReportStarted(grpc::ServerContext*, const bagel::v1::ReportStartedRequest* req,
                             bagel::v1::ReportAck*) override {
    std::lock_guard<std::mutex> l(mu_);
    started_.push_back(*req);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  grpc::Status ReportProgress(grpc::ServerContext*, const bagel::v1::ReportProgressRequest* req,
                              bagel::v1::ReportAck*) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& line : req->lines()) lines_.push_back(line);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  grpc::Status ReportExit(grpc::ServerContext*, const bagel::v1::ReportExitRequest* req,
                          bagel::v1::ReportAck*) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& x : req->exits()) exits_.push_back(x);
    cv_.notify_all();
    return grpc::Status::OK;
  }

  void Send(const Assignment& a) {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(a);
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // Waits (up to 60 s) until `done` holds under the lock.
  bool WaitUntil(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(60), done);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Assignment> queue_;
  bool closed_ = false;
  std::vector<bagel::v1::RegisterRequest> registers_;
  std::vector<bagel::v1::ReportStartedRequest> started_;
  std::vector<bagel::v1::ProgressLine> lines_;
  std::vector<bagel::v1::RankExit> exits_;
};

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&fake_);
    server_ = b.BuildAndStart();
  }
  ~AgentTest() override {
    fake_.Close();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << "#!/bin/sh\n" << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  AgentOptions Options(const std::string& trainer) {
    AgentOptions o;
    o.client.target = "127.0.0.1:" + std::to_string(port_);
    o.name = "agent-test";
    o.address = "127.0.0.1";
    o.cpu_slots = 1;
    o.trainer_path = trainer;
    o.work_dir = dir_.File("work");
    o.shutdown_grace_ms = 2000;
    o.clock = &clock_;
    return o;
  }

  static Assignment Start(const std::string& job) {
    Assignment a;
    a.set_kind(Assignment::START);
    a.set_job_id(job);
    a.set_attempt(0);
    a.set_spec_yaml("train: {steps: 2}\n");
    a.set_first_rank(0);
    a.set_num_ranks(1);
    a.set_world_size(1);
    a.set_checkpoint_root("/unused");
    a.set_resume("auto");
    a.set_use_gpus(false);
    return a;
  }

  // Runs the agent on this thread (ranks are forked from it) until `until` returns, from another.
  void RunAgentUntil(Agent& agent, const std::function<void()>& until) {
    std::thread watcher([&] {
      until();
      agent.Shutdown();
    });
    agent.Run();
    watcher.join();
  }

  bagel::testing::TempDir dir_;
  service::ManualClock clock_;
  FakeCoordinator fake_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Registration, a START, the rank's JSON lines forwarded in order (others dropped), its exit
// reported with the agent's clock.
TEST_F(AgentTest, StartsARankForwardsItsLinesAndReportsItsExit) {
  const std::string trainer = Script("trainer.sh",
                                     "echo '{\"event\":\"started\",\"rank\":0,\"step\":0}'\n"
                                     "echo 'a human line, not forwarded'\n"
                                     "echo '{\"event\":\"step\",\"step\":1,\"ce\":2.5}'\n"
                                     "echo '{\"event\":\"done\",\"step\":2}'\n"
                                     "exit 0\n");
  Agent agent(Options(trainer));
  RunAgentUntil(agent, [&] {
    ASSERT_TRUE(fake_.WaitUntil([&] { return !fake_.registers_.empty(); }));
    Assignment a = Start("j-1");
    a.set_log_dir(dir_.File("logs"));
    fake_.Send(a);
    ASSERT_TRUE(fake_.WaitUntil([&] { return !fake_.exits_.empty(); }));
  });
  std::lock_guard<std::mutex> l(fake_.mu_);
  EXPECT_EQ(fake_.registers_[0].name(), "agent-test");
  EXPECT_EQ(fake_.registers_[0].cpu_slots(), 1);
  ASSERT_EQ(fake_.started_.size(), 1u);
  EXPECT_EQ(fake_.started_[0].job_id(), "j-1");
  ASSERT_EQ(fake_.lines_.size(), 3u);
  EXPECT_NE(fake_.lines_[1].json().find("\"step\":1"), std::string::npos);
  EXPECT_EQ(fake_.lines_[2].unix_ms(), 1'700'000'000'000);
  ASSERT_EQ(fake_.exits_.size(), 1u);
  EXPECT_EQ(fake_.exits_[0].exit_code(), 0);
  EXPECT_EQ(fake_.exits_[0].rank().job_id(), "j-1");
  EXPECT_EQ(fake_.exits_[0].unix_ms(), 1'700'000'000'000);
}

// A STOP sends SIGTERM; a rank that ignores it is killed once the grace period has passed on
// the agent's clock -- and not before.
TEST_F(AgentTest, AStoppedRankThatIgnoresSigtermIsKilledAfterTheGrace) {
  const std::string trainer = Script("stubborn.sh",
                                     "trap '' TERM\n"
                                     "echo '{\"event\":\"started\",\"rank\":0,\"step\":0}'\n"
                                     "while true; do sleep 0.05; done\n");
  Agent agent(Options(trainer));
  RunAgentUntil(agent, [&] {
    ASSERT_TRUE(fake_.WaitUntil([&] { return !fake_.registers_.empty(); }));
    Assignment a = Start("j-2");
    a.set_log_dir(dir_.File("logs"));
    fake_.Send(a);
    ASSERT_TRUE(fake_.WaitUntil([&] { return !fake_.lines_.empty(); }));
    Assignment stop;
    stop.set_kind(Assignment::STOP);
    stop.set_job_id("j-2");
    stop.set_attempt(0);
    stop.set_grace_ms(60'000);
    stop.set_reason("cancel");
    fake_.Send(stop);
    // SIGTERM is ignored and the clock stands still: the rank is still running a while later.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    {
      std::lock_guard<std::mutex> l(fake_.mu_);
      EXPECT_TRUE(fake_.exits_.empty()) << "killed before the grace period passed";
    }
    clock_.AdvanceMsForTest(60'001);
    ASSERT_TRUE(fake_.WaitUntil([&] { return !fake_.exits_.empty(); }));
  });
  std::lock_guard<std::mutex> l(fake_.mu_);
  ASSERT_EQ(fake_.exits_.size(), 1u);
  EXPECT_EQ(fake_.exits_[0].exit_code(), 128 + SIGKILL);
}

}  // namespace
}  // namespace bagel::agent
