// bagel-worker's agent (SERVICE.md, Processes): registers this machine's resources with the
// coordinator, keeps a lease by heartbeat, receives assignments on a stream, starts one
// bagel-train per assigned GPU (one on CPU) with its rank and rendezvous, forwards their JSON
// progress lines, reports their exits, and stops them (SIGTERM, SIGKILL after the grace period)
// on cancel or abort.
//
// Nothing the agent reports is lost across a coordinator restart: reports are retried until the
// coordinator acknowledges them, and after any reconnect the agent registers again with the
// ranks it runs and the exits not yet acknowledged, so the coordinator can reconcile. Ranks keep
// running while the coordinator is away.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bagel/v1/worker_service.grpc.pb.h"
#include "service/client/channel.h"
#include "service/common/clock.h"
#include "worker/agent/agent_metrics.h"
#include "worker/agent/rank_process.h"

namespace bagel::agent {

struct AgentOptions {
  service::ClientOptions client;  // coordinator address, join token, TLS
  std::string name;               // unique and stable per machine
  std::string address;            // how other workers reach this one (MASTER_ADDR of rank 0)
  int gpus = 0;
  int cpu_slots = 1;
  int64_t memory_bytes = 0;
  std::map<std::string, std::string> labels;
  std::string trainer_path;           // the bagel-train executable
  std::string work_dir;               // per-attempt specs
  int64_t shutdown_grace_ms = 30000;  // own SIGTERM: ranks get this long to checkpoint
  AgentMetrics* metrics = nullptr;    // not owned; outlives the agent; null: no metrics
  // Wall time of reports and stop deadlines (not owned; null: the system clock). Tests pass a
  // service::ManualClock, as the coordinator's tests do.
  const service::Clock* clock = nullptr;
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();

  // Runs until Shutdown(); call from the main thread (ranks are forked from it).
  void Run();
  // Asks Run() to stop: every rank gets SIGTERM, SIGKILL after shutdown_grace_ms, exits are
  // reported (best effort), then Run() returns. Safe from any thread.
  void Shutdown();

  // Ranks alive now (tests).
  int LiveRanksForTest();

  // What the metrics exporter reads at scrape time. Safe from any thread.
  AgentHealth HealthForMetrics();

 private:
  struct LocalRank {
    int32_t rank = 0;
    std::unique_ptr<RankProcess> process;
    bool exited = false;
  };
  struct LocalAttempt {
    std::string job_id;
    int32_t attempt = 0;
    std::vector<int> gpus;
    std::vector<LocalRank> ranks;
    bool stopping = false;
    int64_t kill_at_ms = 0;
  };
  using Key = std::pair<std::string, int32_t>;

  bool RegisterOnce();
  void StreamAssignments();
  void HandleStart(const bagel::v1::Assignment& a);
  void HandleStop(const bagel::v1::Assignment& a);
  void OnLine(const Key& key, int32_t rank, const std::string& line);
  void OnExit(const Key& key, int32_t rank, int code, const std::string& message);
  void HeartbeatLoop();
  void ReportLoop();
  bool FlushReports();
  void Supervise();
  void StopAllRanks(int64_t grace_ms);

  AgentOptions options_;
  service::SystemClock system_clock_;
  const service::Clock* clock_;
  std::string incarnation_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<bagel::v1::WorkerService::Stub> stub_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, LocalAttempt> attempts_;
  std::set<int> free_gpus_;
  // Outbox: reports not yet acknowledged, in the order they must arrive.
  std::deque<bagel::v1::ReportStartedRequest> started_;
  std::deque<bagel::v1::ProgressLine> progress_;
  std::deque<bagel::v1::RankExit> exits_;
  size_t dropped_progress_ = 0;
  bool heartbeat_now_ = false;  // set by a registration: the next heartbeat goes out at once

  std::atomic<bool> stop_{false};
  std::atomic<bool> registered_{false};
  std::atomic<int64_t> heartbeat_interval_ms_{2000};
  std::atomic<int64_t> last_heartbeat_unix_ms_{0};
  std::mutex stream_mu_;
  grpc::ClientContext* stream_ctx_ = nullptr;
  std::thread heartbeat_thread_;
  std::thread report_thread_;
};

}  // namespace bagel::agent
