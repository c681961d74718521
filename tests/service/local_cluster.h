// A coordinator and workers as real processes on loopback, for the end-to-end tests: a temporary
// directory holds the service config, the database, the checkpoint root and every process's log;
// the coordinator listens on a port the OS picks. Clients are ordinary gRPC stubs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bagel/v1/cluster_service.grpc.pb.h"
#include "bagel/v1/job_service.grpc.pb.h"
#include "testing/temp_dir.h"
#include "worker/agent/rank_process.h"

namespace bagel::testing {

struct ClusterOptions {
  std::string trainer;                            // bagel-train or the stand-in
  std::map<std::string, std::string> worker_env;  // passed on to the trainers too
  int64_t heartbeat_ms = 200;
  int64_t lease_ttl_ms = 3000;
  int64_t abort_grace_ms = 2000;
  int64_t cancel_grace_ms = 5000;
};

inline constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
inline constexpr char kBobToken[] = "bob-token-0123456789abcdef";
inline constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
inline constexpr char kJoinToken[] = "join-token-0123456789abcdef";

class LocalCluster {
 public:
  LocalCluster(const std::string& name, ClusterOptions options);
  ~LocalCluster();

  // Starts bagel-coordinator (port 0 = the OS picks; a restart passes the previous port).
  void StartCoordinator(int port = 0);
  // Sends `sig` to the coordinator and waits for it to exit.
  void StopCoordinator(int sig);
  // Starts bagel-worker number `i` (name "w<i>", one CPU slot).
  void StartWorker(int i, int gpus = 0);
  void StopWorker(int i, int sig);

  std::unique_ptr<bagel::v1::JobService::Stub> Jobs();
  std::unique_ptr<bagel::v1::ClusterService::Stub> Cluster();
  std::unique_ptr<grpc::ClientContext> Ctx(
      const std::string& token = kAliceToken,
      std::chrono::milliseconds deadline = std::chrono::seconds(10));

  absl::StatusOr<bagel::v1::Job> Submit(const std::string& spec_yaml);
  absl::StatusOr<bagel::v1::Job> Get(const std::string& id);
  // Polls until `pred` holds (returns the job), the job ends otherwise, or `timeout` passes.
  absl::StatusOr<bagel::v1::Job> WaitFor(const std::string& id,
                                         const std::function<bool(const bagel::v1::Job&)>& pred,
                                         std::chrono::seconds timeout);
  // Waits until `n` workers are READY.
  bool WaitForWorkers(int n, std::chrono::seconds timeout);

  // Trainer processes of a job's attempt (found through /proc: "--job-id ID --attempt N"),
  // as rank -> pid.
  std::map<int, pid_t> TrainerPids(const std::string& job_id, int attempt);

  // The "ce" of every "step" line of the job's metrics.jsonl, by step (the newest attempt wins).
  std::map<int64_t, double> StepLosses(const std::string& job_id);

  std::string ReadCoordinatorLog();
  const std::string& root() const { return root_; }
  const std::string& ckpt_root() const { return ckpt_root_; }
  const std::string& data_root() const { return data_root_; }
  int port() const { return port_; }

 private:
  struct Proc {
    std::unique_ptr<agent::RankProcess> process;
    std::shared_ptr<std::atomic<bool>> exited = std::make_shared<std::atomic<bool>>(false);
  };
  void Launch(Proc& p, std::vector<std::string> argv, std::vector<std::string> extra_env,
              const std::string& log);

  ClusterOptions options_;
  std::string bin_dir_;
  // The temporary directory; left in place (not destroyed) with $BAGEL_KEEP_TEST_DIRS set.
  std::unique_ptr<bagel::testing::TempDir> dir_;
  std::string root_, ckpt_root_, data_root_, config_path_;
  int port_ = 0;
  int coordinator_starts_ = 0;
  Proc coordinator_;
  std::map<int, Proc> workers_;
  std::shared_ptr<grpc::Channel> channel_;
};

// The directory of the built executables ($BAGEL_BIN_DIR, else the build's bin/).
std::string BinDir();
// The environment variable `name`, else `fallback`.
std::string EnvOr(const char* name, const std::string& fallback);
// tests/service in the source tree ($BAGEL_TEST_SOURCE_DIR overrides).
std::string TestSourceDir();
// The reference cases ($BAGEL_GOLDEN_DIR, else the configured tests/golden).
std::string GoldenDir();

}  // namespace bagel::testing
