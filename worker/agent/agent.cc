#include "worker/agent/agent.h"

#include "contract/exit_code.h"
#include "contract/progress_line.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/utf8.h"

extern char** environ;

namespace bagel::agent {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
constexpr auto kCallDeadline = std::chrono::seconds(10);
constexpr size_t kMaxProgressLines = 20000;

void Log(const std::string& msg) { std::cerr << "bagel-worker: " << msg << std::endl; }

std::string RandomHex(int n) {
  std::random_device rd;
  std::mt19937_64 g(rd());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += kHex[g() & 15];
  return s;
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_),
      incarnation_(RandomHex(16)) {
  for (int g = 0; g < options_.gpus; ++g) free_gpus_.insert(g);
  auto ch = service::MakeChannel(options_.client);
  if (!ch.ok()) {
    Log(absl::StrCat("cannot create channel: ", ch.status().message()));
    std::exit(2);
  }
  channel_ = *ch;
  stub_ = bagel::v1::WorkerService::NewStub(channel_);
}

Agent::~Agent() {
  stop_ = true;
  cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (report_thread_.joinable()) report_thread_.join();
  // Destroyed outside the lock: a RankProcess joins its reader, which may be in OnExit.
  std::map<Key, LocalAttempt> attempts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    attempts.swap(attempts_);
  }
}

int Agent::LiveRanksForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [k, a] : attempts_) {
    for (const auto& r : a.ranks) n += r.exited ? 0 : 1;
  }
  return n;
}

AgentHealth Agent::HealthForMetrics() {
  AgentHealth h;
  h.registered = registered_.load();
  h.last_heartbeat_unix_ms = last_heartbeat_unix_ms_.load();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, a] : attempts_) {
    for (const auto& r : a.ranks) {
      if (r.exited || !r.process) continue;
      ++(a.stopping ? h.ranks_stopping : h.ranks_running);
    }
  }
  h.gpus = options_.gpus;
  h.gpus_free = static_cast<int>(free_gpus_.size());
  h.backlog_started = static_cast<int64_t>(started_.size());
  h.backlog_progress = static_cast<int64_t>(progress_.size());
  h.backlog_exits = static_cast<int64_t>(exits_.size());
  return h;
}

bool Agent::RegisterOnce() {
  bagel::v1::RegisterRequest req;
  req.set_name(options_.name);
  req.set_address(options_.address);
  req.set_gpus(options_.gpus);
  req.set_cpu_slots(options_.cpu_slots);
  req.set_memory_bytes(options_.memory_bytes);
  for (const auto& [k, v] : options_.labels) (*req.mutable_labels())[k] = v;
  req.set_version("bagel-worker 0.1");
  req.set_incarnation(incarnation_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, a] : attempts_) {
      for (const auto& r : a.ranks) {
        if (r.exited) continue;
        auto* rr = req.add_running();
        rr->set_job_id(a.job_id);
        rr->set_attempt(a.attempt);
        rr->set_rank(r.rank);
      }
    }
    for (const auto& x : exits_) *req.add_exited() = x;
  }
  const size_t exits_sent = req.exited_size();
  auto ctx = service::MakeContext(options_.client.token, std::chrono::seconds(5));
  // Wait for the connection (a coordinator restarting) instead of failing fast on a channel in
  // TRANSIENT_FAILURE, whose next connection attempt could otherwise be far off.
  ctx->set_wait_for_ready(true);
  bagel::v1::RegisterResponse resp;
  const grpc::Status s = stub_->Register(ctx.get(), req, &resp);
  if (options_.metrics) options_.metrics->Registered(s.ok());
  if (!s.ok()) {
    Log(absl::StrCat("register: ", s.error_message(), " (code ", s.error_code(), ")"));
    // Refusals that retrying cannot fix end the agent.
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
        s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      Log("giving up: fix the worker's credentials or flags");
      std::exit(2);
    }
    return false;
  }
  heartbeat_interval_ms_ = std::max<int64_t>(50, resp.heartbeat_interval_ms());
  {
    // The exits sent with the registration are acknowledged by it.
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < exits_sent && !exits_.empty(); ++i) exits_.pop_front();
    // Heartbeat at once, at the coordinator's interval from now on (the loop may be in a wait
    // of the previous interval).
    heartbeat_now_ = true;
  }
  registered_ = true;
  cv_.notify_all();
  Log(absl::StrCat("registered as ", options_.name, " (", options_.gpus, " GPUs, ",
                   options_.cpu_slots, " CPU slots) with ", options_.client.target));
  return true;
}

void Agent::Run() {
  heartbeat_thread_ = std::thread(&Agent::HeartbeatLoop, this);
  report_thread_ = std::thread(&Agent::ReportLoop, this);
  int64_t backoff_ms = 100;
  while (!stop_.load()) {
    if (!RegisterOnce()) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return stop_.load(); });
      }
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 2000);
      Supervise();  // stops still escalate to SIGKILL while the coordinator is away
      continue;
    }
    backoff_ms = 100;
    StreamAssignments();
    registered_ = false;
  }
  StopAllRanks(options_.shutdown_grace_ms);
  // Best effort: let the coordinator hear the exits.
  const auto until = SteadyClock::now() + std::chrono::seconds(5);
  while (SteadyClock::now() < until) {
    if (FlushReports()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (exits_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Agent::Shutdown() {
  stop_ = true;
  cv_.notify_all();
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (stream_ctx_) stream_ctx_->TryCancel();
}

void Agent::StreamAssignments() {
  grpc::ClientContext ctx;
  if (!options_.client.token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + options_.client.token);
  }
  // Long-lived, but with a deadline like every call: reopened when it passes.
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stop_.load()) return;
    stream_ctx_ = &ctx;
  }
  bagel::v1::AssignmentsRequest req;
  req.set_name(options_.name);
  req.set_incarnation(incarnation_);
  auto reader = stub_->Assignments(&ctx, req);
  // The stream is read on this (main) thread, so ranks are forked from it.
  std::atomic<bool> done{false};
  std::thread supervisor([&] {
    while (!done.load()) {
      Supervise();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  bagel::v1::Assignment a;
  while (reader->Read(&a)) {
    if (a.kind() == bagel::v1::Assignment::START) {
      HandleStart(a);
    } else if (a.kind() == bagel::v1::Assignment::STOP) {
      HandleStop(a);
    }
  }
  const grpc::Status s = reader->Finish();
  done = true;
  supervisor.join();
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stream_ctx_ = nullptr;
  }
  if (!stop_.load()) {
    Log(absl::StrCat("assignment stream ended: ", s.error_message(), " (code ", s.error_code(),
                     "); reconnecting"));
  }
}

void Agent::HandleStart(const bagel::v1::Assignment& a) {
  const Key key{a.job_id(), a.attempt()};
  std::vector<int> gpus;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (attempts_.count(key)) return;  // already started (a resend after a reconnect)
    if (a.use_gpus()) {
      if (static_cast<int>(free_gpus_.size()) < a.num_ranks()) {
        for (int i = 0; i < a.num_ranks(); ++i) {
          bagel::v1::RankExit x;
          x.mutable_rank()->set_job_id(a.job_id());
          x.mutable_rank()->set_attempt(a.attempt());
          x.mutable_rank()->set_rank(a.first_rank() + i);
          x.set_exit_code(contract::ExitStatus(contract::ExitCode::kFailed));
          x.set_message("bagel-worker: not enough free GPUs");
          x.set_unix_ms(clock_->NowMs());
          if (options_.metrics)
            options_.metrics->RankExited(a.job_id(), a.attempt(), x.rank().rank(), 1);
          exits_.push_back(std::move(x));
        }
        attempts_[key] = LocalAttempt{a.job_id(), a.attempt(), {}, {}, false, 0};
        cv_.notify_all();
        return;
      }
      auto it = free_gpus_.begin();
      for (int i = 0; i < a.num_ranks(); ++i) gpus.push_back(*it++);
      for (int g : gpus) free_gpus_.erase(g);
    }
    LocalAttempt& la = attempts_[key];
    la.job_id = a.job_id();
    la.attempt = a.attempt();
    la.gpus = gpus;
  }
  std::string master_addr = a.master_addr();
  int master_port = a.master_port();
  if (a.first_rank() == 0) {
    master_addr = options_.address;
    auto port = PickFreeTcpPort();
    master_port = port.ok() ? *port : 29500;
  }
  const fs::path work =
      fs::path(options_.work_dir) / a.job_id() / absl::StrCat("attempt-", a.attempt());
  std::error_code ec;
  fs::create_directories(work, ec);
  const std::string spec_path = (work / "spec.yaml").string();
  std::ofstream(spec_path, std::ios::trunc) << a.spec_yaml();
  std::vector<std::string> base_env;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    static const char* kOwn[] = {
        "RANK=",        "WORLD_SIZE=",  "LOCAL_RANK=",           "LOCAL_WORLD_SIZE=",
        "MASTER_ADDR=", "MASTER_PORT=", "CUDA_VISIBLE_DEVICES=", "BAGEL_DEVICE="};
    bool own = false;
    for (const char* p : kOwn) own |= kv.rfind(p, 0) == 0;
    if (!own) base_env.push_back(kv);
  }
  bagel::v1::ReportStartedRequest started;
  started.set_name(options_.name);
  started.set_job_id(a.job_id());
  started.set_attempt(a.attempt());
  if (a.first_rank() == 0) {
    started.set_master_addr(master_addr);
    started.set_master_port(master_port);
  }
  for (int i = 0; i < a.num_ranks(); ++i) {
    const int32_t rank = a.first_rank() + i;
    LaunchSpec spec;
    spec.argv = {options_.trainer_path,
                 "--spec",
                 spec_path,
                 "--job-id",
                 a.job_id(),
                 "--attempt",
                 std::to_string(a.attempt()),
                 "--checkpoint-root",
                 a.checkpoint_root(),
                 "--resume",
                 a.resume()};
    spec.env = base_env;
    spec.env.push_back(absl::StrCat("RANK=", rank));
    spec.env.push_back(absl::StrCat("WORLD_SIZE=", a.world_size()));
    spec.env.push_back(absl::StrCat("LOCAL_RANK=", i));
    spec.env.push_back(absl::StrCat("LOCAL_WORLD_SIZE=", a.num_ranks()));
    spec.env.push_back(absl::StrCat("MASTER_ADDR=", master_addr));
    spec.env.push_back(absl::StrCat("MASTER_PORT=", master_port));
    if (a.use_gpus()) {
      spec.env.push_back("CUDA_VISIBLE_DEVICES=" + absl::StrJoin(gpus, ","));
    } else {
      spec.env.push_back("BAGEL_DEVICE=cpu");
    }
    spec.log_path = (fs::path(a.log_dir()) / absl::StrCat("rank-", rank, ".log")).string();
    spec.cwd = work.string();
    {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_[key].ranks.push_back(LocalRank{rank, nullptr, false});
    }
    if (options_.metrics) options_.metrics->RankStarted(a.job_id(), a.attempt(), rank);
    auto proc = RankProcess::Start(
        spec, [this, key, rank](const std::string& line) { OnLine(key, rank, line); },
        [this, key, rank](int code, const std::string& msg) { OnExit(key, rank, code, msg); });
    std::lock_guard<std::mutex> lock(mu_);
    LocalAttempt& la = attempts_[key];
    if (!proc.ok()) {
      la.ranks.back().exited = true;
      bagel::v1::RankExit x;
      x.mutable_rank()->set_job_id(a.job_id());
      x.mutable_rank()->set_attempt(a.attempt());
      x.mutable_rank()->set_rank(rank);
      x.set_exit_code(contract::ExitStatus(contract::ExitCode::kLaunchFailed));
      x.set_message(std::string(proc.status().message()));
      x.set_unix_ms(clock_->NowMs());
      if (options_.metrics) options_.metrics->RankExited(a.job_id(), a.attempt(), rank, 127);
      exits_.push_back(std::move(x));
    } else {
      for (auto& r : la.ranks) {
        if (r.rank == rank) r.process = std::move(*proc);
      }
    }
    started.add_ranks(rank);
  }
  Log(absl::StrCat("started ranks ", a.first_rank(), "..", a.first_rank() + a.num_ranks() - 1,
                   " of ", a.world_size(), " for job ", a.job_id(), " attempt ", a.attempt(),
                   " (rendezvous ", master_addr, ":", master_port, ")"));
  std::lock_guard<std::mutex> lock(mu_);
  started_.push_back(std::move(started));
  cv_.notify_all();
}

void Agent::HandleStop(const bagel::v1::Assignment& a) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = attempts_.find({a.job_id(), a.attempt()});
  if (it == attempts_.end()) return;
  LocalAttempt& la = it->second;
  if (la.stopping) return;
  la.stopping = true;
  la.kill_at_ms = clock_->NowMs() + std::max<int64_t>(0, a.grace_ms());
  int n = 0;
  for (auto& r : la.ranks) {
    if (!r.exited && r.process) {
      r.process->Signal(SIGTERM);
      ++n;
    }
  }
  Log(absl::StrCat("stopping job ", a.job_id(), " attempt ", a.attempt(), " (", a.reason(),
                   "): ", n, " rank(s) sent SIGTERM, SIGKILL in ", a.grace_ms(), " ms"));
}

void Agent::Supervise() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMs();
  for (auto& [key, la] : attempts_) {
    if (!la.stopping || la.kill_at_ms > now) continue;
    for (auto& r : la.ranks) {
      if (!r.exited && r.process) r.process->Signal(SIGKILL);
    }
  }
  // Forget attempts whose ranks all ended and whose reports went out (keeps dedup for a while).
  if (attempts_.size() > 256) {
    for (auto it = attempts_.begin(); it != attempts_.end() && attempts_.size() > 256;) {
      bool live = false;
      for (const auto& r : it->second.ranks) live |= !r.exited;
      it = live ? std::next(it) : attempts_.erase(it);
    }
  }
}

void Agent::OnLine(const Key& key, int32_t rank, const std::string& line) {
  if (line.empty() || line.front() != '{') return;
  std::lock_guard<std::mutex> lock(mu_);
  if (progress_.size() >= kMaxProgressLines) {
    // A long disconnection: the oldest step lines go first, never checkpoints or the end.
    for (auto it = progress_.begin(); it != progress_.end(); ++it) {
      const auto queued = contract::ParseProgressLine(it->json());
      if (queued && queued->kind == contract::ProgressLine::Kind::kStep) {
        progress_.erase(it);
        ++dropped_progress_;
        if (options_.metrics) options_.metrics->LineDropped();
        break;
      }
    }
  }
  bagel::v1::ProgressLine p;
  p.mutable_rank()->set_job_id(key.first);
  p.mutable_rank()->set_attempt(key.second);
  p.mutable_rank()->set_rank(rank);
  p.set_json(service::SanitizeUtf8(line.substr(0, 64 << 10)));
  p.set_unix_ms(clock_->NowMs());
  if (options_.metrics) {
    options_.metrics->Line(key.first, key.second, rank, p.json(), p.unix_ms());
  }
  progress_.push_back(std::move(p));
  cv_.notify_all();
}

void Agent::OnExit(const Key& key, int32_t rank, int code, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = attempts_.find(key);
  if (it != attempts_.end()) {
    bool all = true;
    for (auto& r : it->second.ranks) {
      if (r.rank == rank) r.exited = true;
      all &= r.exited;
    }
    if (all) {
      for (int g : it->second.gpus) free_gpus_.insert(g);
      it->second.gpus.clear();
    }
  }
  bagel::v1::RankExit x;
  x.mutable_rank()->set_job_id(key.first);
  x.mutable_rank()->set_attempt(key.second);
  x.mutable_rank()->set_rank(rank);
  x.set_exit_code(code);
  x.set_message(service::SanitizeUtf8(message));
  x.set_unix_ms(clock_->NowMs());
  exits_.push_back(std::move(x));
  if (options_.metrics) options_.metrics->RankExited(key.first, key.second, rank, code);
  std::cerr << "bagel-worker: job " << key.first << " attempt " << key.second << " rank " << rank
            << " exited with code " << code << std::endl;
  cv_.notify_all();
}

bool Agent::FlushReports() {
  // Started, then progress, then exits: a rank's "done" line lands before its exit.
  while (true) {
    bagel::v1::ReportStartedRequest started;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (started_.empty()) break;
      started = started_.front();
    }
    auto ctx = service::MakeContext(options_.client.token, kCallDeadline);
    ctx->set_wait_for_ready(true);
    bagel::v1::ReportAck ack;
    const grpc::Status s = stub_->ReportStarted(ctx.get(), started, &ack);
    if (!s.ok() && s.error_code() != grpc::StatusCode::INVALID_ARGUMENT) return false;
    std::lock_guard<std::mutex> lock(mu_);
    started_.pop_front();
  }
  while (true) {
    bagel::v1::ReportProgressRequest req;
    req.set_name(options_.name);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (progress_.empty()) break;
      for (size_t i = 0; i < progress_.size() && i < 256; ++i) *req.add_lines() = progress_[i];
    }
    auto ctx = service::MakeContext(options_.client.token, kCallDeadline);
    ctx->set_wait_for_ready(true);
    bagel::v1::ReportAck ack;
    if (!stub_->ReportProgress(ctx.get(), req, &ack).ok()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < req.lines_size() && !progress_.empty(); ++i) progress_.pop_front();
  }
  bagel::v1::ReportExitRequest req;
  req.set_name(options_.name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& x : exits_) *req.add_exits() = x;
  }
  if (req.exits_size() == 0) return true;
  auto ctx = service::MakeContext(options_.client.token, kCallDeadline);
  ctx->set_wait_for_ready(true);
  bagel::v1::ReportAck ack;
  if (!stub_->ReportExit(ctx.get(), req, &ack).ok()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < req.exits_size() && !exits_.empty(); ++i) exits_.pop_front();
  return true;
}

void Agent::ReportLoop() {
  while (!stop_.load()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
        return stop_.load() || !started_.empty() || !progress_.empty() || !exits_.empty();
      });
    }
    if (stop_.load()) break;
    if (!registered_.load()) continue;
    if (!FlushReports()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_.load(); });
    }
  }
}

void Agent::HeartbeatLoop() {
  while (!stop_.load()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(heartbeat_interval_ms_.load()),
                   [&] { return stop_.load() || heartbeat_now_; });
      heartbeat_now_ = false;
    }
    if (stop_.load()) break;
    if (!registered_.load()) continue;
    bagel::v1::HeartbeatRequest req;
    req.set_name(options_.name);
    req.set_incarnation(incarnation_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, a] : attempts_) {
        for (const auto& r : a.ranks) {
          if (r.exited) continue;
          auto* rr = req.add_running();
          rr->set_job_id(a.job_id);
          rr->set_attempt(a.attempt);
          rr->set_rank(r.rank);
        }
      }
    }
    auto ctx = service::MakeContext(
        options_.client.token,
        std::chrono::milliseconds(std::max<int64_t>(1000, heartbeat_interval_ms_.load())));
    bagel::v1::HeartbeatResponse resp;
    const grpc::Status s = stub_->Heartbeat(ctx.get(), req, &resp);
    if (options_.metrics) options_.metrics->Heartbeat(s.ok());
    if (s.ok()) last_heartbeat_unix_ms_ = clock_->NowMs();
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      // The coordinator forgot us (restart without our record, or a lost lease): register again.
      Log("heartbeat refused: " + s.error_message());
      registered_ = false;
      std::lock_guard<std::mutex> lock(stream_mu_);
      if (stream_ctx_) stream_ctx_->TryCancel();
    }
  }
}

void Agent::StopAllRanks(int64_t grace_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, la] : attempts_) {
      for (auto& r : la.ranks) {
        if (!r.exited && r.process) r.process->Signal(SIGTERM);
      }
    }
  }
  const auto until = SteadyClock::now() + std::chrono::milliseconds(grace_ms);
  while (SteadyClock::now() < until && LiveRanksForTest() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, la] : attempts_) {
    for (auto& r : la.ranks) {
      if (!r.exited && r.process) r.process->Signal(SIGKILL);
    }
  }
}

}  // namespace bagel::agent
