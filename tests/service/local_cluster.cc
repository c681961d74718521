#include "tests/service/local_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "service/client/channel.h"

extern char** environ;

namespace bagel::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Terminal(bagel::v1::JobState s) {
  return s == bagel::v1::SUCCEEDED || s == bagel::v1::FAILED || s == bagel::v1::CANCELLED;
}

}  // namespace

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
std::string BinDir() { return EnvOr("BAGEL_BIN_DIR", BAGEL_TEST_BIN_DIR); }
std::string TestSourceDir() { return EnvOr("BAGEL_TEST_SOURCE_DIR", BAGEL_TEST_SOURCE_DIR); }
std::string GoldenDir() { return EnvOr("BAGEL_GOLDEN_DIR", BAGEL_TEST_GOLDEN_DIR); }

LocalCluster::LocalCluster(const std::string& name, ClusterOptions options)
    : options_(std::move(options)),
      bin_dir_(BinDir()),
      dir_(std::make_unique<bagel::testing::TempDir>("bagel-e2e-" + name)) {
  root_ = dir_->path().string();
  ckpt_root_ = root_ + "/ckpt";
  data_root_ = root_ + "/data";
  fs::create_directories(ckpt_root_);
  fs::create_directories(data_root_);
  fs::create_directories(root_ + "/logs");
  std::ofstream(root_ + "/join.token") << kJoinToken << "\n";
  config_path_ = root_ + "/coordinator.yaml";
  std::ofstream(config_path_) << "listen: 127.0.0.1:0\n"
                              << "database: " << root_ << "/state/coordinator.db\n"
                              << "checkpoint_root: " << ckpt_root_ << "\n"
                              << "data_roots: [" << data_root_ << "]\n"
                              << "auth:\n"
                              << "  users:\n"
                              << "    - {name: alice, token: " << kAliceToken << "}\n"
                              << "    - {name: bob, token: " << kBobToken << "}\n"
                              << "    - {name: admin, token: " << kAdminToken << ", role: admin}\n"
                              << "  worker_token_file: join.token\n"
                              << "leases: {heartbeat_interval_ms: " << options_.heartbeat_ms
                              << ", ttl_ms: " << options_.lease_ttl_ms << "}\n"
                              << "scheduler: {tick_ms: 50}\n"
                              << "stop: {cancel_grace_ms: " << options_.cancel_grace_ms
                              << ", abort_grace_ms: " << options_.abort_grace_ms
                              << ", timeout_ms: 15000}\n"
                              << "drain_ms: 200\n";
  fs::create_directories(root_ + "/state");
}

LocalCluster::~LocalCluster() {
  for (auto& [i, w] : workers_) {
    if (w.process && !w.exited->load()) w.process->Signal(SIGTERM);
  }
  for (int t = 0; t < 100; ++t) {
    bool all = true;
    for (auto& [i, w] : workers_) all &= !w.process || w.exited->load();
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  workers_.clear();  // kills what is left
  if (coordinator_.process && !coordinator_.exited->load()) coordinator_.process->Signal(SIGTERM);
  coordinator_.process.reset();
  if (std::getenv("BAGEL_KEEP_TEST_DIRS")) {
    std::fprintf(stderr, "kept %s\n", root_.c_str());
    (void)dir_.release();  // never destroyed, so never removed
  } else {
    dir_.reset();
  }
}

void LocalCluster::Launch(Proc& p, std::vector<std::string> argv,
                          std::vector<std::string> extra_env, const std::string& log) {
  agent::LaunchSpec spec;
  spec.argv = std::move(argv);
  for (char** e = environ; *e; ++e) spec.env.push_back(*e);
  for (auto& e : extra_env) spec.env.push_back(std::move(e));
  spec.log_path = log;
  p.exited = std::make_shared<std::atomic<bool>>(false);
  auto flag = p.exited;
  auto proc =
      agent::RankProcess::Start(spec, nullptr, [flag](int, const std::string&) { *flag = true; });
  if (!proc.ok()) {
    std::fprintf(stderr, "cannot start %s: %s\n", spec.argv[0].c_str(),
                 std::string(proc.status().message()).c_str());
    std::abort();
  }
  p.process = std::move(*proc);
}

void LocalCluster::StartCoordinator(int port) {
  const std::string port_file = root_ + "/port";
  fs::remove(port_file);
  ++coordinator_starts_;
  Launch(coordinator_,
         {bin_dir_ + "/bagel-coordinator", "--config", config_path_, "--listen",
          absl::StrCat("127.0.0.1:", port), "--port-file", port_file},
         {}, absl::StrCat(root_, "/logs/coordinator-", coordinator_starts_, ".log"));
  for (int i = 0; i < 300 && !fs::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  port_ = std::atoi(ReadAll(port_file).c_str());
  service::ClientOptions o;
  o.target = absl::StrCat("127.0.0.1:", port_);
  channel_ = *service::MakeChannel(o);
}

void LocalCluster::StopCoordinator(int sig) {
  coordinator_.process->Signal(sig);
  for (int i = 0; i < 200 && !coordinator_.exited->load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  coordinator_.process.reset();
}

void LocalCluster::StartWorker(int i, int gpus) {
  std::vector<std::string> env;
  for (const auto& [k, v] : options_.worker_env) env.push_back(k + "=" + v);
  Launch(workers_[i],
         {bin_dir_ + "/bagel-worker", "--coordinator", absl::StrCat("127.0.0.1:", port_),
          "--token-file", root_ + "/join.token", "--name", absl::StrCat("w", i), "--address",
          "127.0.0.1", "--gpus", std::to_string(gpus), "--cpu-slots", "1", "--trainer",
          options_.trainer, "--work-dir", absl::StrCat(root_, "/work-w", i), "--shutdown-grace-s",
          "5"},
         env, absl::StrCat(root_, "/logs/worker-", i, ".log"));
}

void LocalCluster::StopWorker(int i, int sig) {
  auto it = workers_.find(i);
  if (it == workers_.end()) return;
  it->second.process->Signal(sig);
  for (int t = 0; t < 200 && !it->second.exited->load(); ++t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  workers_.erase(it);
}

std::unique_ptr<bagel::v1::JobService::Stub> LocalCluster::Jobs() {
  return bagel::v1::JobService::NewStub(channel_);
}
std::unique_ptr<bagel::v1::ClusterService::Stub> LocalCluster::Cluster() {
  return bagel::v1::ClusterService::NewStub(channel_);
}
std::unique_ptr<grpc::ClientContext> LocalCluster::Ctx(const std::string& token,
                                                       std::chrono::milliseconds deadline) {
  return service::MakeContext(token, deadline);
}

absl::StatusOr<bagel::v1::Job> LocalCluster::Submit(const std::string& spec_yaml) {
  bagel::v1::SubmitJobRequest req;
  req.set_spec_yaml(spec_yaml);
  bagel::v1::SubmitJobResponse resp;
  auto ctx = Ctx();
  const auto s = Jobs()->SubmitJob(ctx.get(), req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return resp.job();
}

absl::StatusOr<bagel::v1::Job> LocalCluster::Get(const std::string& id) {
  bagel::v1::GetJobRequest req;
  req.set_job_id(id);
  bagel::v1::Job job;
  auto ctx = Ctx();
  const auto s = Jobs()->GetJob(ctx.get(), req, &job);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return job;
}

absl::StatusOr<bagel::v1::Job> LocalCluster::WaitFor(
    const std::string& id, const std::function<bool(const bagel::v1::Job&)>& pred,
    std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  bagel::v1::Job last;
  while (std::chrono::steady_clock::now() < until) {
    auto j = Get(id);
    if (j.ok()) {
      last = *j;
      if (pred(*j)) return *j;
      if (Terminal(j->state())) {
        return absl::FailedPreconditionError(
            absl::StrCat("job ended ", JobState_Name(j->state()), ": ", j->message()));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("job ", id, " still ",
                                                  JobState_Name(last.state()), " at step ",
                                                  last.progress().step(), ": ", last.message()));
}

bool LocalCluster::WaitForWorkers(int n, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    bagel::v1::ListWorkersResponse resp;
    auto ctx = Ctx(kAdminToken);
    if (Cluster()->ListWorkers(ctx.get(), {}, &resp).ok()) {
      int ready = 0;
      for (const auto& w : resp.workers()) ready += w.state() == bagel::v1::WORKER_READY;
      if (ready >= n) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::map<int, pid_t> LocalCluster::TrainerPids(const std::string& job_id, int attempt) {
  std::map<int, pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = ReadAll(e.path() / "cmdline");
    std::vector<std::string> args;
    std::string cur;
    for (char c : cmd) {
      if (c == '\0') {
        args.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    bool job = false, att = false;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      job |= args[i] == "--job-id" && args[i + 1] == job_id;
      att |= args[i] == "--attempt" && args[i + 1] == std::to_string(attempt);
    }
    if (!job || !att) continue;
    const std::string env = ReadAll(e.path() / "environ");
    size_t start = 0;
    while (start < env.size()) {
      const size_t end = env.find('\0', start);
      const std::string kv = env.substr(start, end - start);
      if (kv.rfind("RANK=", 0) == 0) out[std::atoi(kv.c_str() + 5)] = std::atoi(name.c_str());
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return out;
}

std::map<int64_t, double> LocalCluster::StepLosses(const std::string& job_id) {
  std::map<int64_t, double> out;
  std::ifstream in(ckpt_root_ + "/" + job_id + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("event", "") != "step") continue;
    out[j.value("step", int64_t{0})] = j.value("ce", 0.0);
  }
  return out;
}

std::string LocalCluster::ReadCoordinatorLog() {
  std::string all;
  for (int i = 1; i <= coordinator_starts_; ++i) {
    all += ReadAll(absl::StrCat(root_, "/logs/coordinator-", i, ".log"));
  }
  return all;
}

}  // namespace bagel::testing
