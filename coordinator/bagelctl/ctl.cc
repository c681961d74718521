#include "coordinator/bagelctl/ctl.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "coordinator/bagelctl/format.h"

namespace bagel::ctl {
namespace {
namespace fs = std::filesystem;
}  // namespace

Ctl::Ctl(const Globals& g, const bagel::service::Clock* clock)
    : g_(g), clock_(clock != nullptr ? clock : &system_clock_) {
  auto ch = bagel::service::MakeChannel(g.client);
  if (!ch.ok()) Die(2, std::string(ch.status().message()));
  jobs_ = bagel::v1::JobService::NewStub(*ch);
  cluster_ = bagel::v1::ClusterService::NewStub(*ch);
}

std::unique_ptr<grpc::ClientContext> Ctl::Ctx(double seconds) {
  const double s = seconds > 0 ? seconds : g_.timeout_s;
  return bagel::service::MakeContext(g_.client.token,
                                     std::chrono::milliseconds(static_cast<int64_t>(s * 1000)));
}

void Ctl::Die(int code, const std::string& msg) {
  std::cerr << "bagelctl: " << msg << std::endl;
  std::exit(code);
}

void Ctl::Check(const grpc::Status& s) {
  if (s.ok()) return;
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int c = s.error_code();
  Die(c == grpc::StatusCode::INVALID_ARGUMENT ? 2 : 1,
      std::string(c >= 0 && c <= 16 ? kNames[c] : "ERROR") + ": " + s.error_message());
}

void Ctl::PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = false;
  o.preserve_proto_field_names = true;
  google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out << std::endl;
}

int Ctl::Submit(const std::string& file, const std::string& request_id, bool watch) {
  std::ifstream in(file, std::ios::binary);
  if (!in) Die(2, "cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  bagel::v1::SubmitJobRequest req;
  req.set_spec_yaml(ss.str());
  req.set_request_id(request_id);
  bagel::v1::SubmitJobResponse resp;
  auto ctx = Ctx();
  Check(jobs_->SubmitJob(ctx.get(), req, &resp));
  if (g_.json) {
    PrintJson(resp);
  } else {
    std::cout << resp.job().id() << std::endl;
  }
  return watch ? Watch(resp.job().id()) : 0;
}

int Ctl::List(const std::vector<std::string>& states, const std::string& prefix,
              const std::string& owner, int limit) {
  bagel::v1::ListJobsRequest req;
  for (const auto& s : states) {
    auto st = bagel::ctl::ParseState(s);
    if (!st)
      Die(2, "--state " + s +
                 ": expected one of PENDING, SCHEDULED, RUNNING, RESTARTING, "
                 "SUCCEEDED, FAILED, CANCELLED");
    req.add_states(*st);
  }
  req.set_name_prefix(prefix);
  req.set_owner(owner);
  req.set_page_size(std::min(limit, 500));
  bagel::v1::ListJobsResponse all;
  while (all.jobs_size() < limit) {
    bagel::v1::ListJobsResponse page;
    auto ctx = Ctx();
    Check(jobs_->ListJobs(ctx.get(), req, &page));
    for (auto& j : *page.mutable_jobs()) {
      if (all.jobs_size() < limit) *all.add_jobs() = std::move(j);
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
    all.set_next_page_token(page.next_page_token());
  }
  if (g_.json) {
    PrintJson(all);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  const int64_t now = clock_->NowMs();
  for (const auto& j : all.jobs()) {
    rows.push_back(
        {j.id(), j.name(), StateName(j.state()), std::to_string(j.stage()),
         std::to_string(j.progress().step()) + "/" + std::to_string(j.progress().total_steps()),
         std::to_string(j.world_size()), std::to_string(j.restarts()),
         Age(j.created_unix_ms(), now), j.owner()});
  }
  std::cout << RenderTable(
      {"ID", "NAME", "STATE", "STAGE", "STEP", "RANKS", "RESTARTS", "AGE", "OWNER"}, rows);
  return 0;
}

int Ctl::Get(const std::string& id) {
  bagel::v1::GetJobRequest req;
  req.set_job_id(id);
  bagel::v1::Job j;
  auto ctx = Ctx();
  Check(jobs_->GetJob(ctx.get(), req, &j));
  if (g_.json) {
    PrintJson(j);
    return 0;
  }
  const int64_t now = clock_->NowMs();
  const auto& p = j.progress();
  std::cout << "id:          " << j.id() << "\n"
            << "name:        " << j.name() << "\n"
            << "owner:       " << j.owner() << "\n"
            << "state:       " << StateName(j.state())
            << (j.cancel_requested() ? " (cancel requested)" : "") << "\n"
            << "message:     " << j.message() << "\n"
            << "stage:       " << j.stage() << "\n"
            << "priority:    " << j.priority() << "\n"
            << "ranks:       " << j.world_size() << "\n"
            << "depends on:  " << (j.depends_on().empty() ? "-" : j.depends_on()) << "\n"
            << "restarts:    " << j.restarts() << " of " << j.max_restarts() << "\n"
            << "age:         " << Age(j.created_unix_ms(), now) << "\n"
            << "progress:    step " << p.step() << "/" << p.total_steps() << "  ce " << p.ce()
            << "  mse " << p.mse() << "  lr " << p.lr() << "  " << p.tokens_per_s() << " tok/s\n"
            << "checkpoints: " << j.checkpoint_dir() << "\n"
            << "final:       " << (j.final_checkpoint().empty() ? "-" : j.final_checkpoint())
            << "\n"
            << "hf export:   " << (j.hf_export().empty() ? "-" : j.hf_export()) << "\n"
            << "metrics:     " << j.checkpoint_dir() << "/metrics.jsonl\n"
            << "tensorboard: " << bagel::ctl::TensorBoardLine(j.checkpoint_dir()) << "\n";
  if (j.attempts_size() > 0) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : j.attempts()) {
      std::string where;
      for (const auto& pl : a.placement()) {
        where += (where.empty() ? "" : ",") + pl.worker() + "[" + std::to_string(pl.first_rank()) +
                 ".." + std::to_string(pl.first_rank() + pl.num_ranks() - 1) + "]";
      }
      rows.push_back({std::to_string(a.index()), bagel::v1::AttemptState_Name(a.state()).substr(8),
                      where,
                      a.resume_from().empty() ? "-" : fs::path(a.resume_from()).filename().string(),
                      a.reason().empty() ? "-" : a.reason()});
    }
    std::cout << "\n"
              << RenderTable({"ATTEMPT", "STATE", "PLACEMENT", "RESUMED FROM", "REASON"}, rows);
  }
  return 0;
}

int Ctl::Watch(const std::string& id) {
  const bool tty = isatty(fileno(stdout)) && !g_.json;
  const int64_t start_ms = clock_->NowMs();
  int retries = 0;
  bagel::v1::JobState last_state = bagel::v1::JOB_STATE_UNSPECIFIED;
  bagel::v1::Job last;
  bool told_tensorboard = false;
  while (true) {
    bagel::v1::WatchJobRequest req;
    req.set_job_id(id);
    auto ctx = Ctx(7 * 24 * 3600.0);
    ctx->set_wait_for_ready(retries > 0);  // reconnecting: wait for the coordinator to be back
    auto reader = jobs_->WatchJob(ctx.get(), req);
    bagel::v1::JobEvent ev;
    bool got = false;
    while (reader->Read(&ev)) {
      got = true;
      retries = 0;
      if (g_.json) {
        PrintJson(ev);
        if (ev.has_job()) last = ev.job();
        continue;
      }
      if (ev.has_job() && ev.kind() != bagel::v1::JobEvent::CHECKPOINT) {
        last.MergeFrom(ev.job());
        last.mutable_progress()->CopyFrom(ev.job().progress());
      }
      if (!told_tensorboard && !last.checkpoint_dir().empty()) {
        // Where to follow the curves and samples while it runs.
        told_tensorboard = true;
        std::cout << (tty ? "\r\033[K" : "")
                  << "tensorboard: " << bagel::ctl::TensorBoardLine(last.checkpoint_dir()) << "\n";
      }
      const double elapsed = (clock_->NowMs() - start_ms) / 1000.0;
      if (ev.kind() == bagel::v1::JobEvent::CHECKPOINT) {
        std::cout << (tty ? "\r\033[K" : "") << "checkpoint step " << ev.checkpoint().step()
                  << " -> " << ev.checkpoint().path() << " (" << HumanBytes(ev.checkpoint().bytes())
                  << ")\n";
      } else if (ev.kind() == bagel::v1::JobEvent::LOG) {
        std::cout << (tty ? "\r\033[K" : "") << ev.message() << "\n";
      } else if (last.state() != last_state) {
        last_state = last.state();
        std::cout << (tty ? "\r\033[K" : "") << id << " " << StateName(last.state()) << ": "
                  << last.message() << "\n";
      }
      if (ev.kind() == bagel::v1::JobEvent::PROGRESS ||
          ev.kind() == bagel::v1::JobEvent::SNAPSHOT) {
        if (tty) {
          std::cout << "\r\033[K" << bagel::ctl::WatchLine(last, elapsed) << std::flush;
        } else if (ev.kind() == bagel::v1::JobEvent::PROGRESS) {
          std::cout << bagel::ctl::WatchLine(last, elapsed) << "\n";
        }
      }
      std::cout << std::flush;
    }
    const grpc::Status s = reader->Finish();
    if (s.ok()) break;
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && retries < 60) {
      if (retries++ == 0 && !g_.json) {
        std::cout << (tty ? "\r\033[K" : "") << "(coordinator unavailable: reconnecting)\n"
                  << std::flush;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(got ? 200 : 1000));
      continue;
    }
    Check(s);
  }
  if (tty) std::cout << "\n";
  if (!g_.json) {
    if (last.state() != last_state) {
      std::cout << id << " " << StateName(last.state()) << ": " << last.message() << "\n";
    }
    if (last.state() == bagel::v1::SUCCEEDED) {
      std::cout << "  checkpoints: " << last.checkpoint_dir() << "\n"
                << "  final:       " << last.final_checkpoint() << "\n"
                << "  hf export:   " << (last.hf_export().empty() ? "-" : last.hf_export()) << "\n"
                << "  metrics:     " << last.checkpoint_dir() << "/metrics.jsonl\n"
                << "  tensorboard: " << bagel::ctl::TensorBoardLine(last.checkpoint_dir()) << "\n";
    }
  }
  return last.state() == bagel::v1::SUCCEEDED ? 0 : 1;
}

int Ctl::Cancel(const std::string& id) {
  bagel::v1::CancelJobRequest req;
  req.set_job_id(id);
  bagel::v1::Job j;
  auto ctx = Ctx();
  Check(jobs_->CancelJob(ctx.get(), req, &j));
  if (g_.json) {
    PrintJson(j);
  } else {
    std::cout << id << " " << StateName(j.state())
              << (j.cancel_requested() && j.state() != bagel::v1::CANCELLED
                      ? " (stopping every rank)"
                      : "")
              << "\n";
  }
  return 0;
}

int Ctl::Checkpoints(const std::string& id) {
  bagel::v1::ListCheckpointsRequest req;
  req.set_job_id(id);
  bagel::v1::ListCheckpointsResponse resp;
  auto ctx = Ctx();
  Check(jobs_->ListCheckpoints(ctx.get(), req, &resp));
  if (g_.json) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : resp.checkpoints()) {
    std::string pins;
    for (const auto& p : c.pinned_by()) pins += (pins.empty() ? "" : "; ") + p;
    rows.push_back({std::to_string(c.step()), c.path(), HumanBytes(c.bytes()),
                    std::to_string(c.attempt()), c.final() ? "yes" : "", pins});
  }
  std::cout << RenderTable({"STEP", "PATH", "SIZE", "ATTEMPT", "FINAL", "PINNED"}, rows);
  return 0;
}

int Ctl::Logs(const std::string& id, int attempt, int rank, bool follow) {
  int64_t offset = 0;
  int retries = 0;
  while (true) {
    bagel::v1::GetLogsRequest req;
    req.set_job_id(id);
    req.set_attempt(attempt);
    req.set_rank(rank);
    req.set_follow(follow);
    req.set_offset(offset);
    auto ctx = Ctx(follow ? 7 * 24 * 3600.0 : -1);
    ctx->set_wait_for_ready(retries > 0);
    auto reader = jobs_->GetLogs(ctx.get(), req);
    bagel::v1::LogChunk chunk;
    while (reader->Read(&chunk)) {
      retries = 0;
      attempt = chunk.attempt();  // a reconnect stays on the attempt being followed
      std::cout.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      std::cout.flush();
      offset = chunk.offset() + static_cast<int64_t>(chunk.data().size());
    }
    const grpc::Status s = reader->Finish();
    if (s.ok()) return 0;
    if (follow && s.error_code() == grpc::StatusCode::UNAVAILABLE && retries++ < 60) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    Check(s);
  }
}

int Ctl::Workers(const std::string& action, const std::string& name) {
  if (!action.empty()) {
    bagel::v1::DrainWorkerRequest req;
    req.set_name(name);
    req.set_drain(action == "drain");
    bagel::v1::Worker w;
    auto ctx = Ctx();
    Check(cluster_->DrainWorker(ctx.get(), req, &w));
    if (g_.json) {
      PrintJson(w);
    } else {
      std::cout << w.name() << " " << bagel::v1::WorkerState_Name(w.state()).substr(7) << "\n";
    }
    return 0;
  }
  bagel::v1::ListWorkersResponse resp;
  auto ctx = Ctx();
  Check(cluster_->ListWorkers(ctx.get(), bagel::v1::ListWorkersRequest(), &resp));
  if (g_.json) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  const int64_t now = clock_->NowMs();
  for (const auto& w : resp.workers()) {
    std::string jobs;
    for (const auto& j : w.running_jobs()) jobs += (jobs.empty() ? "" : ",") + j;
    rows.push_back({w.name(), bagel::v1::WorkerState_Name(w.state()).substr(7),
                    std::to_string(w.gpus_in_use()) + "/" + std::to_string(w.gpus()),
                    std::to_string(w.cpu_slots_in_use()) + "/" + std::to_string(w.cpu_slots()),
                    HumanBytes(w.memory_bytes()), w.address(), Age(w.last_heartbeat_unix_ms(), now),
                    jobs.empty() ? "-" : jobs});
  }
  std::cout << RenderTable(
      {"NAME", "STATE", "GPUS", "CPU", "MEMORY", "ADDRESS", "HEARTBEAT", "JOBS"}, rows);
  return 0;
}

int Ctl::Export(const std::string& id, const std::string& out) {
  bagel::v1::ExportJobRequest req;
  req.set_job_id(id);
  auto ctx = Ctx(3600);
  auto reader = jobs_->ExportJob(ctx.get(), req);
  bagel::v1::FileChunk chunk;
  std::ofstream file;
  std::string current;
  int files = 0;
  int64_t bytes = 0;
  while (reader->Read(&chunk)) {
    const fs::path rel(chunk.path());
    if (rel.is_absolute() || chunk.path().find("..") != std::string::npos) {
      Die(1, "refusing a file outside the output directory: " + chunk.path());
    }
    if (chunk.path() != current) {
      file.close();
      current = chunk.path();
      fs::create_directories((fs::path(out) / rel).parent_path());
      file.open(fs::path(out) / rel, std::ios::binary | std::ios::trunc);
      if (!file) Die(1, "cannot write " + (fs::path(out) / rel).string());
      ++files;
    }
    file.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    bytes += static_cast<int64_t>(chunk.data().size());
  }
  file.close();
  Check(reader->Finish());
  if (!g_.json)
    std::cout << "exported " << files << " files (" << HumanBytes(bytes) << ") to " << out << "\n";
  return 0;
}

}  // namespace bagel::ctl
