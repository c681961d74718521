#include "tests/service/load_driver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include <grpcpp/create_channel.h>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bagel/v1/job_service.grpc.pb.h"
#include "bagel/v1/worker_service.grpc.pb.h"

#include "service/client/channel.h"

namespace bagel::testing {
namespace {

using Clock = std::chrono::steady_clock;

const char* kSpec =
    "model: {stage: 1, init_from: {preset: tiny}}\n"
    "data: {groups: [{name: demo, type: demo}]}\n"
    "train: {steps: 10}\n"
    "parallel: {workers: 1, gpus_per_worker: 1}\n";

// One simulated agent: a heartbeat loop and an assignment stream answered at once.
class SimulatedWorker {
 public:
  SimulatedWorker(std::shared_ptr<grpc::Channel> ch, const LoadOptions& o, int index,
                  std::atomic<bool>* stop, LoadResult* result, std::mutex* mu)
      : stub_(bagel::v1::WorkerService::NewStub(ch)),
        o_(o),
        name_(absl::StrCat("sim-", index)),
        stop_(stop),
        result_(result),
        mu_(mu) {}

  bool Register() {
    bagel::v1::RegisterRequest r;
    r.set_name(name_);
    r.set_address("127.0.0.1");
    r.set_gpus(o_.gpus_per_worker);
    r.set_cpu_slots(1);
    r.set_incarnation("sim");
    bagel::v1::RegisterResponse resp;
    auto ctx = service::MakeContext(o_.join_token, std::chrono::seconds(10));
    return stub_->Register(ctx.get(), r, &resp).ok();
  }

  void Start() {
    heartbeat_ = std::thread([this] { HeartbeatLoop(); });
    stream_ = std::thread([this] { StreamLoop(); });
  }

  void Join() {
    {
      std::lock_guard<std::mutex> lock(ctx_mu_);
      if (stream_ctx_) stream_ctx_->TryCancel();
    }
    heartbeat_.join();
    stream_.join();
  }

 private:
  void HeartbeatLoop() {
    while (!stop_->load()) {
      bagel::v1::HeartbeatRequest r;
      r.set_name(name_);
      r.set_incarnation("sim");
      bagel::v1::HeartbeatResponse resp;
      auto ctx = service::MakeContext(o_.join_token, std::chrono::seconds(5));
      const bool ok = stub_->Heartbeat(ctx.get(), r, &resp).ok();
      {
        std::lock_guard<std::mutex> lock(*mu_);
        (ok ? result_->heartbeats_ok : result_->heartbeat_errors)++;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(o_.heartbeat_ms));
    }
  }

  void Count(bool ok) {
    if (ok) return;
    std::lock_guard<std::mutex> lock(*mu_);
    result_->report_errors++;
  }

  void StreamLoop() {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + o_.join_token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
    {
      std::lock_guard<std::mutex> lock(ctx_mu_);
      stream_ctx_ = &ctx;
    }
    bagel::v1::AssignmentsRequest req;
    req.set_name(name_);
    req.set_incarnation("sim");
    auto reader = stub_->Assignments(&ctx, req);
    bagel::v1::Assignment a;
    while (reader->Read(&a)) {
      if (a.kind() != bagel::v1::Assignment::START) continue;
      {
        std::lock_guard<std::mutex> lock(*mu_);
        result_->jobs_started++;
      }
      bagel::v1::ReportStartedRequest s;
      s.set_name(name_);
      s.set_job_id(a.job_id());
      s.set_attempt(a.attempt());
      for (int r = 0; r < a.num_ranks(); ++r) s.add_ranks(a.first_rank() + r);
      if (a.first_rank() == 0) {
        s.set_master_addr("127.0.0.1");
        s.set_master_port(29500);
      }
      bagel::v1::ReportAck ack;
      auto c1 = service::MakeContext(o_.join_token, std::chrono::seconds(10));
      Count(stub_->ReportStarted(c1.get(), s, &ack).ok());
      bagel::v1::ReportProgressRequest p;
      p.set_name(name_);
      auto* line = p.add_lines();
      line->mutable_rank()->set_job_id(a.job_id());
      line->mutable_rank()->set_attempt(a.attempt());
      line->mutable_rank()->set_rank(0);
      line->set_json(R"({"event":"step","step":10,"total_steps":10,"ce":1.0,"tokens_per_s":1000})");
      auto c2 = service::MakeContext(o_.join_token, std::chrono::seconds(10));
      Count(stub_->ReportProgress(c2.get(), p, &ack).ok());
      bagel::v1::ReportExitRequest x;
      x.set_name(name_);
      for (int r = 0; r < a.num_ranks(); ++r) {
        auto* e = x.add_exits();
        e->mutable_rank()->set_job_id(a.job_id());
        e->mutable_rank()->set_attempt(a.attempt());
        e->mutable_rank()->set_rank(a.first_rank() + r);
        e->set_exit_code(0);
      }
      auto c3 = service::MakeContext(o_.join_token, std::chrono::seconds(10));
      Count(stub_->ReportExit(c3.get(), x, &ack).ok());
    }
    const grpc::Status st = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(ctx_mu_);
      stream_ctx_ = nullptr;
    }
    Count(st.ok() || st.error_code() == grpc::StatusCode::CANCELLED || stop_->load());
  }

  std::unique_ptr<bagel::v1::WorkerService::Stub> stub_;
  LoadOptions o_;
  std::string name_;
  std::atomic<bool>* stop_;
  LoadResult* result_;
  std::mutex* mu_;
  std::mutex ctx_mu_;
  grpc::ClientContext* stream_ctx_ = nullptr;
  std::thread heartbeat_, stream_;
};

}  // namespace

double LoadResult::Percentile(double p) const {
  if (submit_latency_ms.empty()) return 0;
  const size_t i =
      std::min(submit_latency_ms.size() - 1,
               static_cast<size_t>(std::ceil(p / 100.0 * submit_latency_ms.size())) - 1);
  return submit_latency_ms[i];
}

std::string LoadResult::Summary() const {
  return absl::StrFormat(
      "| submissions ok / errors | %d / %d |\n| submit throughput | %.0f jobs/s |\n"
      "| submit latency p50 / p90 / p99 / max | %.2f / %.2f / %.2f / %.2f ms |\n"
      "| heartbeats ok / errors | %d / %d (over %.1f s) |\n| worker report errors | %d |\n"
      "| jobs started / succeeded | %d / %d |\n| all jobs SUCCEEDED after | %.1f s |\n",
      submit_ok, submit_errors, submit_seconds > 0 ? submit_ok / submit_seconds : 0.0,
      Percentile(50), Percentile(90), Percentile(99),
      submit_latency_ms.empty() ? 0.0 : submit_latency_ms.back(), heartbeats_ok, heartbeat_errors,
      heartbeat_seconds, report_errors, jobs_started, jobs_succeeded, drain_seconds);
}

LoadResult RunLoad(const LoadOptions& o) {
  LoadResult result;
  std::mutex mu;
  service::ClientOptions co;
  co.target = o.target;
  // A few channels, as separate clients would have.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("bagel.channel_index", i);  // distinct channels, not one shared subchannel
    channels.push_back(
        grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
  }
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<SimulatedWorker>> workers;
  for (int i = 0; i < o.workers; ++i) {
    workers.push_back(std::make_unique<SimulatedWorker>(channels[i % channels.size()], o, i, &stop,
                                                        &result, &mu));
    if (!workers.back()->Register()) {
      std::lock_guard<std::mutex> lock(mu);
      result.report_errors++;
    }
  }
  for (auto& w : workers) w->Start();

  std::vector<std::string> ids(o.submissions);
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < o.client_threads; ++t) {
    clients.emplace_back([&, t] {
      auto stub = bagel::v1::JobService::NewStub(channels[t % channels.size()]);
      std::vector<double> lat;
      int ok = 0, err = 0;
      for (int i = next++; i < o.submissions; i = next++) {
        bagel::v1::SubmitJobRequest req;
        req.set_spec_yaml(kSpec);
        req.set_request_id(absl::StrCat("load-", i));
        bagel::v1::SubmitJobResponse resp;
        auto ctx = service::MakeContext(o.user_token, std::chrono::seconds(30));
        const auto t0 = Clock::now();
        const grpc::Status s = stub->SubmitJob(ctx.get(), req, &resp);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (s.ok()) {
          ++ok;
          ids[i] = resp.job().id();
        } else {
          ++err;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      result.submit_ok += ok;
      result.submit_errors += err;
      result.submit_latency_ms.insert(result.submit_latency_ms.end(), lat.begin(), lat.end());
    });
  }
  for (auto& c : clients) c.join();
  result.submit_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(result.submit_latency_ms.begin(), result.submit_latency_ms.end());

  // Wait until every job succeeded (ListJobs by state, paged).
  auto stub = bagel::v1::JobService::NewStub(channels[0]);
  const auto until = Clock::now() + std::chrono::seconds(o.drain_timeout_s);
  while (Clock::now() < until) {
    bagel::v1::ListJobsRequest req;
    req.add_states(bagel::v1::SUCCEEDED);
    req.set_page_size(500);
    int n = 0;
    while (true) {
      bagel::v1::ListJobsResponse resp;
      auto ctx = service::MakeContext(o.user_token, std::chrono::seconds(30));
      if (!stub->ListJobs(ctx.get(), req, &resp).ok()) break;
      n += resp.jobs_size();
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    result.jobs_succeeded = n;
    if (n >= result.submit_ok) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  result.drain_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::seconds(o.hold_s));
  result.heartbeat_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& w : workers) w->Join();
  return result;
}

}  // namespace bagel::testing
