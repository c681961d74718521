#include "coordinator/core/control_plane.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/common/utf8.h"
#include "coordinator/core/checkpoint_dir.h"
#include "coordinator/core/trainer_line.h"
#include "coordinator/scheduler/gang_placement.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using bagel::v1::Assignment;
using bagel::v1::AttemptState;
using bagel::v1::JobEvent;
using bagel::v1::JobState;
using bagel::v1::WorkerState;

bool IsTerminal(JobState s) {
  return s == bagel::v1::SUCCEEDED || s == bagel::v1::FAILED || s == bagel::v1::CANCELLED;
}

bool IsActive(AttemptState s) {
  return s == bagel::v1::ATTEMPT_STARTING || s == bagel::v1::ATTEMPT_RUNNING ||
         s == bagel::v1::ATTEMPT_STOPPING;
}

bool ValidName(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string PageToken(const bagel::v1::Job& j) {
  return absl::StrCat(j.created_unix_ms(), ":", j.id());
}

// Newest first.
bool ListOrder(const bagel::v1::Job& a, const bagel::v1::Job& b) {
  if (a.created_unix_ms() != b.created_unix_ms()) return a.created_unix_ms() > b.created_unix_ms();
  return a.id() > b.id();
}

}  // namespace

ControlPlaneOptions ControlPlaneOptions::FromConfig(const config::ServiceConfig& c) {
  ControlPlaneOptions o;
  o.checkpoint_root = c.checkpoint_root;
  o.data_roots = c.data_roots;
  o.heartbeat_interval_ms = c.heartbeat_interval_ms;
  o.lease_ttl_ms = c.lease_ttl_ms;
  o.cancel_grace_ms = c.cancel_grace_ms;
  o.abort_grace_ms = c.abort_grace_ms;
  o.stop_timeout_ms = c.stop_timeout_ms;
  o.max_active_jobs_per_user = c.max_active_jobs_per_user;
  return o;
}

namespace {
std::vector<std::string> Roots(const ControlPlaneOptions& o) {
  std::vector<std::string> r = o.data_roots;
  r.push_back(o.checkpoint_root);
  return r;
}
}  // namespace

ControlPlane::ControlPlane(ControlPlaneOptions options, Store* store, const Clock* clock,
                           ControlPlaneMetrics* metrics)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      metrics_(metrics ? metrics : &noop_metrics_),
      paths_(Roots(options_)),
      rng_(std::random_device{}()) {}

// ----------------------------------------------------------------------------------------------
// Persistence and events

void ControlPlane::Commit(WriteBatch& batch) {
  for (const auto& id : dirty_jobs_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end()) batch.jobs.push_back(it->second.job);
  }
  for (const auto& [id, index] : dirty_attempts_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && index < static_cast<int>(it->second.attempts.size())) {
      batch.attempts.push_back(it->second.attempts[index]);
    }
  }
  for (const auto& name : dirty_workers_) {
    auto it = workers_.find(name);
    if (it != workers_.end()) batch.workers.push_back(it->second.rec);
  }
  dirty_jobs_.clear();
  dirty_attempts_.clear();
  dirty_workers_.clear();
  if (batch.empty()) return;
  if (auto s = store_->Apply(batch); !s.ok()) {
    // The in-memory state is ahead of the database: crash, and recover from the last commit.
    std::cerr << "bagel-coordinator: FATAL: store write failed: " << s << std::endl;
    std::abort();
  }
  batch = WriteBatch();
}

void ControlPlane::MarkJob(const JobEntry& e) { dirty_jobs_.insert(e.job.id()); }
void ControlPlane::MarkAttempt(const AttemptRecord& a) {
  dirty_attempts_.insert({a.job_id, a.attempt.index()});
}

void ControlPlane::Event(const JobEntry& e, const std::string& kind, const std::string& message,
                         WriteBatch& batch) {
  batch.events.push_back({e.job.id(), clock_->NowMs(), kind, message});
}

void ControlPlane::Publish(JobEntry& e, JobEvent event) {
  event.set_unix_ms(clock_->NowMs());
  const bool end = event.kind() == JobEvent::STATE && IsTerminal(event.job().state());
  for (auto it = e.watchers.begin(); it != e.watchers.end();) {
    if (auto q = it->lock()) {
      q->Push(event);
      if (end) q->Close();
      ++it;
    } else {
      it = e.watchers.erase(it);
    }
  }
  if (end) e.watchers.clear();
}

bagel::v1::Job ControlPlane::PublicJob(const JobEntry& e, bool with_attempts) const {
  bagel::v1::Job j = e.job;
  j.clear_attempts();
  if (with_attempts) {
    for (const auto& a : e.attempts) *j.add_attempts() = a.attempt;
  }
  return j;
}

void ControlPlane::SetJobState(JobEntry& e, JobState state, const std::string& message,
                               WriteBatch& batch) {
  const JobState from = e.job.state();
  if (from == state && e.job.message() == message) return;
  e.job.set_state(state);
  e.job.set_message(message);
  e.job.set_updated_unix_ms(clock_->NowMs());
  if (state == bagel::v1::RUNNING && e.job.started_unix_ms() == 0) {
    e.job.set_started_unix_ms(clock_->NowMs());
  }
  if (IsTerminal(state)) e.job.set_finished_unix_ms(clock_->NowMs());
  MarkJob(e);
  if (from != state) {
    Event(e, "state", absl::StrCat(JobState_Name(state), ": ", message), batch);
    metrics_->JobStateChanged(from, state);
    JobEvent ev;
    ev.set_kind(JobEvent::STATE);
    *ev.mutable_job() = PublicJob(e, false);
    ev.mutable_job()->clear_spec_yaml();
    ev.set_message(message);
    Publish(e, std::move(ev));
  }
}

void ControlPlane::SetWorkerState(WorkerEntry& w, WorkerState state, WriteBatch& batch) {
  if (w.rec.worker.state() == state) return;
  metrics_->WorkerStateChanged(w.rec.worker.state(), state);
  w.rec.worker.set_state(state);
  dirty_workers_.insert(w.rec.worker.name());
}

std::string ControlPlane::JobDir(const std::string& job_id) const {
  return (fs::path(options_.checkpoint_root) / job_id).string();
}

void ControlPlane::AppendMetricsLine(const std::string& job_id, int32_t attempt,
                                     const std::string& json) {
  if (json.empty() || json.front() != '{') return;
  std::error_code ec;
  fs::create_directories(JobDir(job_id), ec);
  std::ofstream out(fs::path(JobDir(job_id)) / "metrics.jsonl", std::ios::app);
  out << "{\"attempt\":" << attempt << ",\"unix_ms\":" << clock_->NowMs()
      << (json.size() > 2 ? "," : "") << json.substr(1) << "\n";
}

std::string ControlPlane::NewJobId() {
  static const char* kHex = "0123456789abcdef";
  for (;;) {
    std::string id = "j-";
    uint64_t v = rng_();
    for (int i = 0; i < 12; ++i, v >>= 4) id += kHex[v & 15];
    if (!jobs_.count(id)) return id;
  }
}

// ----------------------------------------------------------------------------------------------
// Recovery

absl::Status ControlPlane::Recover() {
  auto state = store_->Load();
  if (!state.ok()) return state.status();
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMs();
  for (auto& job : state->jobs) {
    auto parse = config::ParseJobSpec(job.spec_yaml());
    if (!parse.ok()) {
      return absl::DataLossError(
          absl::StrCat("stored spec of job ", job.id(), " does not parse: ", parse.ErrorText()));
    }
    JobEntry& e = jobs_[job.id()];
    e.spec = std::move(parse.spec);
    e.job = std::move(job);
    e.runnable_since_ms = now;
    if (!e.job.request_id().empty()) request_ids_[{e.job.owner(), e.job.request_id()}] = e.job.id();
  }
  for (auto& a : state->attempts) {
    auto it = jobs_.find(a.job_id);
    if (it == jobs_.end()) continue;
    it->second.attempts.push_back(std::move(a));
  }
  for (auto& c : state->checkpoints) {
    auto it = jobs_.find(c.job_id());
    if (it != jobs_.end()) it->second.checkpoints[c.step()] = std::move(c);
  }
  for (auto& w : state->workers) {
    WorkerEntry& e = workers_[w.worker.name()];
    e.rec = std::move(w);
    // Agents get two leases to reconnect; until then their ranks are presumed alive.
    e.lease_expires_ms = now + 2 * options_.lease_ttl_ms + options_.heartbeat_interval_ms;
  }
  SyncPins();
  return absl::OkStatus();
}

// ----------------------------------------------------------------------------------------------
// The user API

absl::StatusOr<ControlPlane::JobEntry*> ControlPlane::VisibleJob(const Principal& who,
                                                                 const std::string& job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job ", job_id.substr(0, 128), " not found"));
  }
  if (!who.CanActOn(it->second.job.owner())) {
    return absl::PermissionDeniedError(absl::StrCat("job ", job_id, " belongs to another user"));
  }
  return &it->second;
}

AttemptRecord* ControlPlane::ActiveAttempt(JobEntry& e) {
  if (e.attempts.empty() || !IsActive(e.attempts.back().attempt.state())) return nullptr;
  return &e.attempts.back();
}

absl::StatusOr<SubmitResult> ControlPlane::SubmitJob(const Principal& who,
                                                     const std::string& spec_yaml,
                                                     const std::string& request_id) {
  if (request_id.size() > 128 || (!request_id.empty() && !ValidName(request_id, 128))) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id: got ", request_id.substr(0, 64),
                     ", expected at most 128 characters of [A-Za-z0-9._-]"));
  }
  if (!IsValidUtf8(spec_yaml)) {
    return absl::InvalidArgumentError(
        "spec_yaml: got bytes that are not UTF-8, expected UTF-8 YAML text");
  }
  auto parse = config::ParseJobSpec(spec_yaml);
  if (!parse.ok()) {
    std::string text = parse.ErrorText();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return absl::InvalidArgumentError(text);
  }
  if (auto s = CheckSpecPaths(parse.spec, paths_); !s.ok()) return s;
  const std::string canonical = config::JobSpecToYaml(parse.spec);
  if (!IsValidUtf8(canonical)) {
    return absl::InvalidArgumentError("spec_yaml: a string decodes to bytes that are not UTF-8");
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  if (!request_id.empty()) {
    auto it = request_ids_.find({who.name, request_id});
    if (it != request_ids_.end()) {
      const JobEntry& prior = jobs_.at(it->second);
      if (prior.job.spec_yaml() != canonical) {
        return absl::AlreadyExistsError(absl::StrCat("request_id ", request_id,
                                                     " was used for job ", prior.job.id(),
                                                     " with a different spec"));
      }
      return SubmitResult{PublicJob(prior, false), true};
    }
  }
  int64_t active = 0;
  for (const auto& [id, e] : jobs_) {
    if (e.job.owner() == who.name && !IsTerminal(e.job.state())) ++active;
  }
  if (active >= options_.max_active_jobs_per_user) {
    return absl::ResourceExhaustedError(absl::StrCat(who.name, " has ", active,
                                                     " unfinished jobs; the limit is ",
                                                     options_.max_active_jobs_per_user));
  }
  std::string depends_on;
  std::string message = "queued";
  if (parse.spec.model.init_from.kind == config::InitFrom::Kind::kJob) {
    depends_on = parse.spec.model.init_from.job;
    auto dep = jobs_.find(depends_on);
    if (dep == jobs_.end() || !who.CanActOn(dep->second.job.owner())) {
      return absl::NotFoundError(absl::StrCat("model.init_from.job: got ",
                                              depends_on.substr(0, 128),
                                              ", expected the id of an existing job of yours"));
    }
    if (!dep->second.spec.checkpoint.export_hf) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.init_from.job: got ", depends_on,
                       ", expected a job with checkpoint.export_hf: true (its HF export "
                       "initialises this one)"));
    }
    const JobState ds = dep->second.job.state();
    if (ds == bagel::v1::FAILED || ds == bagel::v1::CANCELLED) {
      return absl::FailedPreconditionError(absl::StrCat("model.init_from.job: job ", depends_on,
                                                        " ended ", JobState_Name(ds),
                                                        " and has no final checkpoint"));
    }
    if (ds != bagel::v1::SUCCEEDED) message = absl::StrCat("waiting for job ", depends_on);
  }

  const int64_t now = clock_->NowMs();
  bagel::v1::Job job;
  job.set_id(NewJobId());
  job.set_name(parse.spec.name.empty() ? job.id() : parse.spec.name);
  job.set_owner(who.name);
  job.set_state(bagel::v1::PENDING);
  job.set_stage(parse.spec.model.stage);
  job.set_priority(static_cast<int32_t>(parse.spec.scheduling.priority));
  job.set_depends_on(depends_on);
  job.set_spec_yaml(canonical);
  job.set_created_unix_ms(now);
  job.set_updated_unix_ms(now);
  job.set_max_restarts(static_cast<int32_t>(parse.spec.scheduling.max_restarts));
  job.set_world_size(static_cast<int32_t>(parse.spec.parallel.world_size()));
  job.set_checkpoint_dir(JobDir(job.id()));
  job.set_request_id(request_id);
  job.set_message(message);
  job.mutable_progress()->set_total_steps(parse.spec.train.steps);

  // One transaction; memory changes only once it is stored (nothing half-stored).
  WriteBatch batch;
  batch.jobs.push_back(job);
  batch.events.push_back(
      {job.id(), now, "state", absl::StrCat("PENDING: submitted by ", who.name)});
  if (auto s = store_->Apply(batch); !s.ok()) return s;

  JobEntry& e = jobs_[job.id()];
  e.job = job;
  e.spec = std::move(parse.spec);
  e.runnable_since_ms = now;
  if (!request_id.empty()) request_ids_[{who.name, request_id}] = job.id();
  metrics_->JobSubmitted();
  metrics_->JobStateChanged(bagel::v1::JOB_STATE_UNSPECIFIED, bagel::v1::PENDING);
  return SubmitResult{PublicJob(e, false), false};
}

absl::StatusOr<bagel::v1::Job> ControlPlane::GetJob(const Principal& who, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto e = VisibleJob(who, id);
  if (!e.ok()) return e.status();
  return PublicJob(**e, true);
}

absl::StatusOr<bagel::v1::ListJobsResponse> ControlPlane::ListJobs(
    const Principal& who, const bagel::v1::ListJobsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: got ", request.page_size(), ", expected 0..500"));
  }
  const int page_size = request.page_size() == 0 ? 50 : std::min(request.page_size(), 500);
  if (!request.owner().empty() && request.owner() != who.name && !who.is_admin()) {
    return absl::PermissionDeniedError("only admins may list other users' jobs");
  }
  int64_t after_created = 0;
  std::string after_id;
  if (!request.page_token().empty()) {
    const auto colon = request.page_token().find(':');
    char* end = nullptr;
    if (colon != std::string::npos) {
      after_created = std::strtoll(request.page_token().c_str(), &end, 10);
      after_id = request.page_token().substr(colon + 1);
    }
    if (colon == std::string::npos || end != request.page_token().c_str() + colon) {
      return absl::InvalidArgumentError("page_token: got a token this server did not issue");
    }
  }
  std::set<int> states(request.states().begin(), request.states().end());
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const bagel::v1::Job*> match;
  for (const auto& [id, e] : jobs_) {
    const auto& j = e.job;
    if (!who.is_admin() && j.owner() != who.name) continue;
    if (!request.owner().empty() && j.owner() != request.owner()) continue;
    if (!states.empty() && !states.count(j.state())) continue;
    if (!request.name_prefix().empty() && j.name().rfind(request.name_prefix(), 0) != 0) continue;
    if (!request.page_token().empty()) {
      bagel::v1::Job cursor;
      cursor.set_created_unix_ms(after_created);
      cursor.set_id(after_id);
      if (!ListOrder(cursor, j)) continue;  // only jobs after the cursor
    }
    match.push_back(&j);
  }
  std::sort(match.begin(), match.end(), [](auto* a, auto* b) { return ListOrder(*a, *b); });
  bagel::v1::ListJobsResponse out;
  for (size_t i = 0; i < match.size() && static_cast<int>(i) < page_size; ++i) {
    auto* j = out.add_jobs();
    *j = *match[i];
    j->clear_spec_yaml();
  }
  if (static_cast<int>(match.size()) > page_size) {
    out.set_next_page_token(PageToken(*match[page_size - 1]));
  }
  return out;
}

absl::StatusOr<bagel::v1::Job> ControlPlane::CancelJob(const Principal& who,
                                                       const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = VisibleJob(who, job_id);
  if (!found.ok()) return found.status();
  JobEntry& e = **found;
  if (IsTerminal(e.job.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " already ended ", JobState_Name(e.job.state())));
  }
  WriteBatch batch;
  e.job.set_cancel_requested(true);
  MarkJob(e);
  Event(e, "cancel", absl::StrCat("cancel requested by ", who.name), batch);
  if (AttemptRecord* a = ActiveAttempt(e)) {
    if (a->attempt.state() == bagel::v1::ATTEMPT_STOPPING) {
      a->stop_for_cancel = true;
      MarkAttempt(*a);
    } else {
      StopAttempt(e, *a, /*cancel=*/true, absl::StrCat("cancelled by ", who.name), batch);
    }
  } else {
    SetJobState(e, bagel::v1::CANCELLED, absl::StrCat("cancelled by ", who.name), batch);
  }
  Commit(batch);
  SyncPins();
  return PublicJob(e, true);
}

absl::StatusOr<std::vector<bagel::v1::Checkpoint>> ControlPlane::ListCheckpoints(
    const Principal& who, const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = VisibleJob(who, job_id);
  if (!found.ok()) return found.status();
  JobEntry& e = **found;
  WriteBatch batch;
  SyncCheckpoints(e, batch);
  Commit(batch);
  const auto pins = ComputePins();
  std::vector<bagel::v1::Checkpoint> out;
  for (const auto& [step, c] : e.checkpoints) {
    bagel::v1::Checkpoint copy = c;
    auto jp = pins.find(job_id);
    if (jp != pins.end()) {
      auto p = jp->second.find(fs::path(c.path()).filename().string());
      if (p != jp->second.end()) {
        copy.set_pinned(true);
        for (const auto& why : p->second) copy.add_pinned_by(why);
      }
    }
    out.push_back(std::move(copy));
  }
  return out;
}

absl::StatusOr<WatchHandle> ControlPlane::WatchJob(const Principal& who,
                                                   const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = VisibleJob(who, job_id);
  if (!found.ok()) return found.status();
  JobEntry& e = **found;
  WatchHandle h;
  h.snapshot = PublicJob(e, true);
  h.events = std::make_shared<EventQueue>(1024);
  if (IsTerminal(e.job.state()) || shut_down_) {
    h.ended = true;
    h.events->Close();
  } else {
    e.watchers.push_back(h.events);
  }
  return h;
}

absl::StatusOr<LogLocation> ControlPlane::LogPath(const Principal& who, const std::string& job_id,
                                                  int32_t attempt, int32_t rank) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = VisibleJob(who, job_id);
  if (!found.ok()) return found.status();
  JobEntry& e = **found;
  if (e.attempts.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " has not started yet"));
  }
  if (attempt < 0) attempt = static_cast<int32_t>(e.attempts.size()) - 1;
  if (attempt >= static_cast<int32_t>(e.attempts.size())) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no attempt ", attempt,
                                            " (it has ", e.attempts.size(), ")"));
  }
  const AttemptRecord& a = e.attempts[attempt];
  if (rank < 0 || rank >= a.attempt.world_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank: got ", rank, ", expected 0..", a.attempt.world_size() - 1));
  }
  LogLocation loc;
  loc.attempt = attempt;
  loc.path = (fs::path(JobDir(job_id)) / "logs" / absl::StrCat("attempt-", attempt) /
              absl::StrCat("rank-", rank, ".log"))
                 .string();
  loc.attempt_active = IsActive(a.attempt.state());
  return loc;
}

bool ControlPlane::AttemptActive(const std::string& job_id, int32_t attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || attempt < 0 || attempt >= static_cast<int>(it->second.attempts.size())) {
    return false;
  }
  return IsActive(it->second.attempts[attempt].attempt.state());
}

absl::StatusOr<std::string> ControlPlane::ExportDir(const Principal& who,
                                                    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = VisibleJob(who, job_id);
  if (!found.ok()) return found.status();
  const JobEntry& e = **found;
  if (e.job.state() != bagel::v1::SUCCEEDED) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is ",
                                                      JobState_Name(e.job.state()),
                                                      "; only a SUCCEEDED job has an export"));
  }
  if (e.job.hf_export().empty() || !fs::is_directory(e.job.hf_export())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has no HF export (checkpoint.export_hf was false)"));
  }
  return e.job.hf_export();
}

// ----------------------------------------------------------------------------------------------
// The cluster API

std::map<std::string, ControlPlane::Usage> ControlPlane::ComputeUsage() const {
  std::map<std::string, Usage> usage;
  for (const auto& [id, e] : jobs_) {
    if (e.attempts.empty() || !IsActive(e.attempts.back().attempt.state())) continue;
    const AttemptRecord& a = e.attempts.back();
    const bool gpu = e.spec.parallel.gpus_per_worker > 0;
    for (const auto& p : a.attempt.placement()) {
      bool live = false;
      for (int r = p.first_rank(); r < p.first_rank() + p.num_ranks(); ++r) {
        live |= r < static_cast<int>(a.ranks.size()) && a.ranks[r].state != RankState::kExited;
      }
      if (!live) continue;
      Usage& u = usage[p.worker()];
      if (gpu) {
        u.gpus += p.num_ranks();
      } else {
        u.cpu += 1;
      }
      u.jobs.insert(id);
    }
  }
  return usage;
}

std::vector<bagel::v1::Worker> ControlPlane::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto usage = ComputeUsage();
  std::vector<bagel::v1::Worker> out;
  for (const auto& [name, w] : workers_) {
    bagel::v1::Worker copy = w.rec.worker;
    copy.set_lease_expires_unix_ms(w.lease_expires_ms);
    if (auto u = usage.find(name); u != usage.end()) {
      copy.set_gpus_in_use(u->second.gpus);
      copy.set_cpu_slots_in_use(u->second.cpu);
      for (const auto& j : u->second.jobs) copy.add_running_jobs(j);
    }
    out.push_back(std::move(copy));
  }
  return out;
}

absl::StatusOr<bagel::v1::Worker> ControlPlane::DrainWorker(const Principal& who,
                                                            const std::string& name, bool drain) {
  if (!who.is_admin()) return absl::PermissionDeniedError("draining workers needs the admin role");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(name);
  if (it == workers_.end()) return absl::NotFoundError(absl::StrCat("worker ", name, " not found"));
  WorkerEntry& w = it->second;
  WriteBatch batch;
  w.rec.drain = drain;
  dirty_workers_.insert(name);
  if (w.rec.worker.state() != bagel::v1::WORKER_LOST) {
    SetWorkerState(w, drain ? bagel::v1::WORKER_DRAINING : bagel::v1::WORKER_READY, batch);
  }
  Commit(batch);
  return w.rec.worker;
}

// ----------------------------------------------------------------------------------------------
// The worker API

absl::StatusOr<bagel::v1::RegisterResponse> ControlPlane::Register(
    const bagel::v1::RegisterRequest& req) {
  if (!ValidName(req.name(), 64)) {
    return absl::InvalidArgumentError(absl::StrCat("name: got ", req.name().substr(0, 64),
                                                   ", expected 1-64 characters of [A-Za-z0-9._-]"));
  }
  if (req.gpus() < 0 || req.gpus() > 1024 || req.cpu_slots() < 0 || req.cpu_slots() > 1024) {
    return absl::InvalidArgumentError("gpus and cpu_slots: expected 0..1024");
  }
  if (req.incarnation().empty() || req.incarnation().size() > 128) {
    return absl::InvalidArgumentError("incarnation: expected 1-128 characters");
  }
  if (req.address().empty() || req.address().size() > 256) {
    return absl::InvalidArgumentError("address: expected the host other workers reach this one at");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  const int64_t now = clock_->NowMs();
  WriteBatch batch;
  WorkerEntry& w = workers_[req.name()];
  auto& rec = w.rec.worker;
  const bool is_new = rec.name().empty();
  rec.set_name(req.name());
  rec.set_address(req.address());
  rec.set_gpus(req.gpus());
  rec.set_cpu_slots(req.cpu_slots());
  rec.set_memory_bytes(req.memory_bytes());
  *rec.mutable_labels() = req.labels();
  rec.set_version(req.version());
  rec.set_last_heartbeat_unix_ms(now);
  w.rec.incarnation = req.incarnation();
  if (is_new)
    metrics_->WorkerStateChanged(bagel::v1::WORKER_STATE_UNSPECIFIED, bagel::v1::WORKER_READY);
  rec.set_state(bagel::v1::WORKER_STATE_UNSPECIFIED);
  SetWorkerState(w, w.rec.drain ? bagel::v1::WORKER_DRAINING : bagel::v1::WORKER_READY, batch);
  dirty_workers_.insert(req.name());
  w.lease_expires_ms = now + options_.lease_ttl_ms;

  // Exits the agent saw while disconnected come first.
  for (const auto& x : req.exited()) ApplyExit(req.name(), x, batch);

  // Reconcile what runs there with what should.
  std::set<std::tuple<std::string, int, int>> running;
  for (const auto& r : req.running()) running.insert({r.job_id(), r.attempt(), r.rank()});
  std::set<std::pair<std::string, int>> expected;  // attempts with live ranks there
  for (auto& [id, e] : jobs_) {
    AttemptRecord* a = ActiveAttempt(e);
    if (!a) continue;
    for (auto& r : a->ranks) {
      if (r.worker != req.name() || r.state == RankState::kExited) continue;
      if (running.count({id, a->attempt.index(), r.rank})) {
        expected.insert({id, a->attempt.index()});
        if (r.state == RankState::kPending) {
          r.state = RankState::kRunning;
          MarkAttempt(*a);
        }
      } else if (r.state == RankState::kRunning) {
        RankExited(e, *a, r.rank, -1,
                   absl::StrCat("not running on worker ", req.name(), " after it reconnected"),
                   batch);
      }
    }
  }
  std::set<std::pair<std::string, int>> stopped;
  for (const auto& [job, attempt, rank] : running) {
    if (expected.count({job, attempt}) || stopped.count({job, attempt})) continue;
    stopped.insert({job, attempt});
    Assignment stop;
    stop.set_kind(Assignment::STOP);
    stop.set_job_id(job);
    stop.set_attempt(attempt);
    stop.set_grace_ms(options_.abort_grace_ms);
    stop.set_reason("abort: the coordinator no longer runs this attempt");
    w.pending.push_back(std::move(stop));
  }
  Commit(batch);
  SyncPins();
  bagel::v1::RegisterResponse out;
  out.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  out.set_lease_ttl_ms(options_.lease_ttl_ms);
  out.set_checkpoint_root(options_.checkpoint_root);
  return out;
}

absl::StatusOr<bagel::v1::HeartbeatResponse> ControlPlane::Heartbeat(
    const bagel::v1::HeartbeatRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(req.name());
  if (it == workers_.end() || it->second.rec.incarnation != req.incarnation() ||
      it->second.rec.worker.state() == bagel::v1::WORKER_LOST) {
    return absl::NotFoundError(
        absl::StrCat("worker ", req.name().substr(0, 64),
                     " is not registered (or lost its lease): register again"));
  }
  WorkerEntry& w = it->second;
  const int64_t now = clock_->NowMs();
  w.lease_expires_ms = now + options_.lease_ttl_ms;
  w.rec.worker.set_last_heartbeat_unix_ms(now);
  bagel::v1::HeartbeatResponse out;
  out.set_lease_expires_unix_ms(w.lease_expires_ms);
  out.set_draining(w.rec.drain);
  return out;
}

bagel::v1::Assignment ControlPlane::StartFor(const JobEntry& e, const AttemptRecord& a,
                                             const bagel::v1::Placement& p) const {
  Assignment s;
  s.set_kind(Assignment::START);
  s.set_job_id(e.job.id());
  s.set_attempt(a.attempt.index());
  config::JobSpec spec = e.spec;
  if (spec.model.init_from.kind == config::InitFrom::Kind::kJob) {
    auto dep = jobs_.find(e.job.depends_on());
    spec.model.init_from.kind = config::InitFrom::Kind::kPath;
    spec.model.init_from.path = dep != jobs_.end() ? dep->second.job.hf_export() : "";
    spec.model.init_from.job.clear();
  }
  s.set_spec_yaml(config::JobSpecToYaml(spec));
  s.set_first_rank(p.first_rank());
  s.set_num_ranks(p.num_ranks());
  s.set_world_size(a.attempt.world_size());
  if (p.first_rank() != 0) {
    s.set_master_addr(a.attempt.master_addr());
    s.set_master_port(a.attempt.master_port());
  }
  s.set_checkpoint_root(options_.checkpoint_root);
  s.set_resume(a.attempt.resume_from().empty() ? "auto" : a.attempt.resume_from());
  s.set_use_gpus(e.spec.parallel.gpus_per_worker > 0);
  s.set_log_dir(
      (fs::path(JobDir(e.job.id())) / "logs" / absl::StrCat("attempt-", a.attempt.index()))
          .string());
  return s;
}

void ControlPlane::Send(const std::string& worker, Assignment a) {
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  if (it->second.stream && it->second.stream->Push(a)) return;
  // START is regenerated from state when the stream opens; a STOP must not be forgotten.
  if (a.kind() == Assignment::STOP) it->second.pending.push_back(std::move(a));
}

absl::StatusOr<std::shared_ptr<AssignmentQueue>> ControlPlane::OpenAssignments(
    const std::string& name, const std::string& incarnation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  auto it = workers_.find(name);
  if (it == workers_.end() || it->second.rec.incarnation != incarnation) {
    return absl::NotFoundError(absl::StrCat("worker ", name.substr(0, 64), " is not registered"));
  }
  WorkerEntry& w = it->second;
  if (w.stream) w.stream->Close();
  w.stream = std::make_shared<AssignmentQueue>(1 << 14);
  for (auto& a : w.pending) w.stream->Push(std::move(a));
  w.pending.clear();
  for (auto& [id, e] : jobs_) {
    AttemptRecord* a = ActiveAttempt(e);
    if (!a) continue;
    for (const auto& p : a->attempt.placement()) {
      if (p.worker() != name) continue;
      bool pending = false, live = false;
      for (int r = p.first_rank(); r < p.first_rank() + p.num_ranks(); ++r) {
        pending |= a->ranks[r].state == RankState::kPending;
        live |= a->ranks[r].state != RankState::kExited;
      }
      if (a->attempt.state() == bagel::v1::ATTEMPT_STOPPING) {
        if (!live) continue;
        Assignment stop;
        stop.set_kind(Assignment::STOP);
        stop.set_job_id(id);
        stop.set_attempt(a->attempt.index());
        stop.set_grace_ms(a->stop_for_cancel ? options_.cancel_grace_ms : options_.abort_grace_ms);
        stop.set_reason(a->stop_for_cancel ? "cancel" : "abort: " + a->attempt.reason());
        w.stream->Push(std::move(stop));
      } else if (pending && (p.first_rank() == 0 || a->attempt.master_port() > 0)) {
        w.stream->Push(StartFor(e, *a, p));
      }
    }
  }
  return w.stream;
}

void ControlPlane::CloseAssignments(const std::string& name,
                                    const std::shared_ptr<AssignmentQueue>& queue) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(name);
  if (it != workers_.end() && it->second.stream == queue) it->second.stream.reset();
  queue->Close();
}

absl::Status ControlPlane::ReportStarted(const bagel::v1::ReportStartedRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workers_.count(req.name())) return absl::NotFoundError("worker not registered");
  auto it = jobs_.find(req.job_id());
  if (it == jobs_.end())
    return absl::NotFoundError(absl::StrCat("job ", req.job_id(), " not found"));
  JobEntry& e = it->second;
  AttemptRecord* a = ActiveAttempt(e);
  WriteBatch batch;
  if (!a || a->attempt.index() != req.attempt() ||
      a->attempt.state() == bagel::v1::ATTEMPT_STOPPING) {
    // A stale or stopping attempt: make sure the ranks go away.
    Assignment stop;
    stop.set_kind(Assignment::STOP);
    stop.set_job_id(req.job_id());
    stop.set_attempt(req.attempt());
    stop.set_grace_ms(a && a->stop_for_cancel ? options_.cancel_grace_ms : options_.abort_grace_ms);
    stop.set_reason(a && a->stop_for_cancel ? "cancel" : "abort: attempt no longer active");
    Send(req.name(), std::move(stop));
    return absl::OkStatus();
  }
  for (int32_t r : req.ranks()) {
    if (r < 0 || r >= static_cast<int>(a->ranks.size()) || a->ranks[r].worker != req.name()) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", r, " is not placed on ", req.name()));
    }
    if (a->ranks[r].state == RankState::kPending) a->ranks[r].state = RankState::kRunning;
  }
  MarkAttempt(*a);
  const bool has_rank0 = std::find(req.ranks().begin(), req.ranks().end(), 0) != req.ranks().end();
  if (has_rank0 && req.master_port() > 0 && a->attempt.master_port() == 0) {
    a->attempt.set_master_addr(req.master_addr());
    a->attempt.set_master_port(req.master_port());
    for (const auto& p : a->attempt.placement()) {
      if (p.first_rank() != 0) Send(p.worker(), StartFor(e, *a, p));
    }
  }
  bool all = true;
  for (const auto& r : a->ranks) all &= r.state != RankState::kPending;
  if (all && a->attempt.state() == bagel::v1::ATTEMPT_STARTING) {
    a->attempt.set_state(bagel::v1::ATTEMPT_RUNNING);
    metrics_->AttemptRunning(static_cast<double>(clock_->NowMs() - a->attempt.started_unix_ms()) /
                             1000.0);
    SetJobState(
        e, bagel::v1::RUNNING,
        absl::StrCat("attempt ", a->attempt.index(), ": ", a->ranks.size(), " ranks running"),
        batch);
  }
  Commit(batch);
  return absl::OkStatus();
}

void ControlPlane::ApplyTrainerLine(JobEntry& e, const AttemptRecord& a, const std::string& json,
                                    WriteBatch& batch) {
  auto line = ParseTrainerLine(json);
  if (!line.ok()) return;
  auto* p = e.job.mutable_progress();
  const int64_t now = clock_->NowMs();
  using K = TrainerLine::Kind;
  switch (line->kind) {
    case K::kStarted:
      if (line->rank == 0) {
        p->set_step(line->step);
        if (line->total_steps > 0) p->set_total_steps(line->total_steps);
        p->set_updated_unix_ms(now);
      }
      break;
    case K::kStep: {
      p->set_step(line->step);
      if (line->total_steps > 0) p->set_total_steps(line->total_steps);
      p->set_ce(line->ce);
      p->set_mse(line->mse);
      p->set_lr(line->lr);
      p->set_grad_norm(line->grad_norm);
      p->set_tokens(line->tokens);
      p->set_tokens_per_s(line->tokens_per_s);
      p->set_step_time_s(line->step_time_s);
      p->set_mfu(line->mfu);
      p->set_mem_bytes(line->mem_bytes);
      p->set_updated_unix_ms(now);
      e.progress_dirty = true;
      metrics_->Progress(e.job.id(), *p);
      AppendMetricsLine(e.job.id(), a.attempt.index(), json);
      JobEvent ev;
      ev.set_kind(JobEvent::PROGRESS);
      *ev.mutable_job() = PublicJob(e, false);
      ev.mutable_job()->clear_spec_yaml();
      Publish(e, std::move(ev));
      break;
    }
    case K::kEval: {
      p->set_val_ce(line->val_ce);
      p->set_val_mse(line->val_mse);
      e.progress_dirty = true;
      AppendMetricsLine(e.job.id(), a.attempt.index(), json);
      JobEvent ev;
      ev.set_kind(JobEvent::PROGRESS);
      *ev.mutable_job() = PublicJob(e, false);
      ev.mutable_job()->clear_spec_yaml();
      Publish(e, std::move(ev));
      break;
    }
    case K::kCheckpoint: {
      bagel::v1::Checkpoint c;
      c.set_job_id(e.job.id());
      c.set_step(line->step);
      c.set_path(line->path);
      c.set_bytes(line->bytes);
      c.set_attempt(a.attempt.index());
      c.set_created_unix_ms(now);
      e.checkpoints[c.step()] = c;
      batch.checkpoints.push_back(c);
      metrics_->CheckpointPublished(e.job.id(), line->bytes, line->seconds);
      JobEvent ev;
      ev.set_kind(JobEvent::CHECKPOINT);
      *ev.mutable_checkpoint() = c;
      Publish(e, std::move(ev));
      break;
    }
    case K::kDone:
      e.job.set_final_checkpoint(line->final_checkpoint);
      e.job.set_hf_export(line->hf_export);
      MarkJob(e);
      break;
    case K::kError: {
      const std::string msg =
          SanitizeUtf8(absl::StrCat("rank ", line->rank, ": ", line->message.substr(0, 2000)));
      Event(e, "error", msg, batch);
      JobEvent ev;
      ev.set_kind(JobEvent::LOG);
      ev.set_message(msg);
      Publish(e, std::move(ev));
      break;
    }
    case K::kOther:
      break;
  }
}

absl::Status ControlPlane::ReportProgress(const bagel::v1::ReportProgressRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workers_.count(req.name())) return absl::NotFoundError("worker not registered");
  WriteBatch batch;
  for (const auto& line : req.lines()) {
    auto it = jobs_.find(line.rank().job_id());
    if (it == jobs_.end()) continue;
    JobEntry& e = it->second;
    AttemptRecord* a = ActiveAttempt(e);
    if (!a || a->attempt.index() != line.rank().attempt()) continue;
    const int r = line.rank().rank();
    if (r < 0 || r >= static_cast<int>(a->ranks.size()) || a->ranks[r].worker != req.name()) {
      continue;
    }
    ApplyTrainerLine(e, *a, line.json(), batch);
  }
  Commit(batch);
  return absl::OkStatus();
}

void ControlPlane::ApplyExit(const std::string& worker, const bagel::v1::RankExit& x,
                             WriteBatch& batch) {
  auto it = jobs_.find(x.rank().job_id());
  if (it == jobs_.end()) return;
  JobEntry& e = it->second;
  const int idx = x.rank().attempt();
  if (idx < 0 || idx >= static_cast<int>(e.attempts.size())) return;
  AttemptRecord& a = e.attempts[idx];
  const int r = x.rank().rank();
  if (r < 0 || r >= static_cast<int>(a.ranks.size()) || a.ranks[r].worker != worker) return;
  if (a.ranks[r].state == RankState::kExited || !IsActive(a.attempt.state())) return;
  RankExited(e, a, r, x.exit_code(), x.message(), batch);
}

absl::Status ControlPlane::ReportExit(const bagel::v1::ReportExitRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workers_.count(req.name())) return absl::NotFoundError("worker not registered");
  WriteBatch batch;
  for (const auto& x : req.exits()) ApplyExit(req.name(), x, batch);
  Commit(batch);
  SyncPins();
  return absl::OkStatus();
}

// ----------------------------------------------------------------------------------------------
// Attempts

void ControlPlane::StartAttempt(JobEntry& e, const std::vector<std::string>& workers,
                                WriteBatch& batch) {
  const int64_t now = clock_->NowMs();
  AttemptRecord a;
  a.job_id = e.job.id();
  a.attempt.set_index(static_cast<int32_t>(e.attempts.size()));
  a.attempt.set_state(bagel::v1::ATTEMPT_STARTING);
  a.attempt.set_world_size(static_cast<int32_t>(e.spec.parallel.world_size()));
  a.attempt.set_started_unix_ms(now);
  const int per = static_cast<int>(e.spec.parallel.ranks_per_worker());
  for (size_t i = 0; i < workers.size(); ++i) {
    auto* p = a.attempt.add_placement();
    p->set_worker(workers[i]);
    p->set_first_rank(static_cast<int32_t>(i) * per);
    p->set_num_ranks(per);
    for (int r = 0; r < per; ++r) {
      a.ranks.push_back(
          {static_cast<int32_t>(i) * per + r, workers[i], RankState::kPending, 0, ""});
    }
  }
  if (!e.attempts.empty()) {
    SyncCheckpoints(e, batch);
    if (!e.checkpoints.empty()) a.attempt.set_resume_from(e.checkpoints.rbegin()->second.path());
  }
  e.attempts.push_back(std::move(a));
  AttemptRecord& stored = e.attempts.back();
  MarkAttempt(stored);
  metrics_->Scheduled(static_cast<double>(now - e.runnable_since_ms) / 1000.0);
  SetJobState(
      e, bagel::v1::SCHEDULED,
      absl::StrCat("attempt ", stored.attempt.index(), " placed on ", absl::StrJoin(workers, ", "),
                   stored.attempt.resume_from().empty()
                       ? ""
                       : absl::StrCat("; resuming from ", stored.attempt.resume_from())),
      batch);
  Send(workers[0], StartFor(e, stored, stored.attempt.placement(0)));
}

void ControlPlane::StopAttempt(JobEntry& e, AttemptRecord& a, bool cancel,
                               const std::string& reason, WriteBatch& batch) {
  a.attempt.set_state(bagel::v1::ATTEMPT_STOPPING);
  a.stop_for_cancel = cancel;
  if (a.attempt.reason().empty()) a.attempt.set_reason(reason);
  const int64_t grace = cancel ? options_.cancel_grace_ms : options_.abort_grace_ms;
  a.stop_deadline_ms = clock_->NowMs() + grace + options_.stop_timeout_ms;
  MarkAttempt(a);
  Event(e, cancel ? "cancel" : "abort",
        absl::StrCat("stopping attempt ", a.attempt.index(), ": ", reason), batch);
  JobEvent ev;
  ev.set_kind(JobEvent::LOG);
  ev.set_message(absl::StrCat(cancel ? "cancelling" : "aborting", " attempt ", a.attempt.index(),
                              ": ", reason));
  Publish(e, std::move(ev));
  std::set<std::string> told;
  for (auto& r : a.ranks) {
    if (r.state == RankState::kExited || told.count(r.worker)) continue;
    auto w = workers_.find(r.worker);
    if (w == workers_.end() || w->second.rec.worker.state() == bagel::v1::WORKER_LOST) continue;
    told.insert(r.worker);
    Assignment stop;
    stop.set_kind(Assignment::STOP);
    stop.set_job_id(e.job.id());
    stop.set_attempt(a.attempt.index());
    stop.set_grace_ms(grace);
    stop.set_reason(cancel ? "cancel" : "abort: " + reason);
    Send(r.worker, std::move(stop));
  }
  // Ranks on lost workers cannot confirm.
  for (auto& r : a.ranks) {
    auto w = workers_.find(r.worker);
    if (r.state != RankState::kExited &&
        (w == workers_.end() || w->second.rec.worker.state() == bagel::v1::WORKER_LOST)) {
      r.state = RankState::kExited;
      r.exit_code = -1;
      r.message = "worker lost";
      metrics_->RankExited(-1);
    }
  }
  MaybeFinishAttempt(e, a, batch);
}

void ControlPlane::RankExited(JobEntry& e, AttemptRecord& a, int32_t rank, int32_t code,
                              const std::string& message, WriteBatch& batch) {
  RankRecord& r = a.ranks[rank];
  r.state = RankState::kExited;
  r.exit_code = code;
  metrics_->RankExited(code);
  r.message = SanitizeUtf8(message.substr(0, 2000));
  MarkAttempt(a);
  const auto s = a.attempt.state();
  if (s == bagel::v1::ATTEMPT_STARTING || s == bagel::v1::ATTEMPT_RUNNING) {
    if (code == 0) {
      MaybeFinishAttempt(e, a, batch);
      return;
    }
    if (code == 2) a.permanent_failure = true;
    std::string why = code < 0 ? absl::StrCat("rank ", rank, ": ", SanitizeUtf8(message))
                               : absl::StrCat("rank ", rank, " exited with code ", code);
    if (code > 128) absl::StrAppend(&why, " (signal ", code - 128, ")");
    if (code >= 0 && !message.empty())
      absl::StrAppend(&why, ": ", SanitizeUtf8(message.substr(0, 300)));
    StopAttempt(e, a, /*cancel=*/e.job.cancel_requested(), why, batch);
  } else if (s == bagel::v1::ATTEMPT_STOPPING) {
    MaybeFinishAttempt(e, a, batch);
  }
}

void ControlPlane::MaybeFinishAttempt(JobEntry& e, AttemptRecord& a, WriteBatch& batch) {
  for (const auto& r : a.ranks) {
    if (r.state != RankState::kExited) return;
  }
  const int64_t now = clock_->NowMs();
  a.attempt.set_finished_unix_ms(now);
  MarkAttempt(a);
  const std::string dir = JobDir(e.job.id());
  bool all_zero = true;
  for (const auto& r : a.ranks) all_zero &= r.exit_code == 0;
  if (a.attempt.state() != bagel::v1::ATTEMPT_STOPPING && all_zero) {
    a.attempt.set_state(bagel::v1::ATTEMPT_SUCCEEDED);
    if (e.job.final_checkpoint().empty()) {
      const std::string latest = ReadLatest(dir);
      if (!latest.empty()) e.job.set_final_checkpoint((fs::path(dir) / latest).string());
    }
    if (e.job.hf_export().empty() && e.spec.checkpoint.export_hf &&
        fs::is_directory(fs::path(dir) / "hf")) {
      e.job.set_hf_export((fs::path(dir) / "hf").string());
    }
    SyncCheckpoints(e, batch);
    SetJobState(e, bagel::v1::SUCCEEDED,
                absl::StrCat("finished ", e.job.progress().total_steps(), " steps in attempt ",
                             a.attempt.index()),
                batch);
    return;
  }
  SyncCheckpoints(e, batch);
  if (a.stop_for_cancel || e.job.cancel_requested()) {
    a.attempt.set_state(bagel::v1::ATTEMPT_CANCELLED);
    SetJobState(e, bagel::v1::CANCELLED, "cancelled; every rank stopped", batch);
    return;
  }
  a.attempt.set_state(bagel::v1::ATTEMPT_FAILED);
  const std::string why =
      absl::StrCat("attempt ", a.attempt.index(), " failed: ", a.attempt.reason());
  if (a.permanent_failure) {
    SetJobState(e, bagel::v1::FAILED, why + " (invalid spec or arguments: not restarted)", batch);
  } else if (e.job.restarts() >= e.job.max_restarts()) {
    SetJobState(
        e, bagel::v1::FAILED,
        absl::StrCat(why, " (", e.job.restarts(), " of ", e.job.max_restarts(), " restarts used)"),
        batch);
  } else {
    e.job.set_restarts(e.job.restarts() + 1);
    e.runnable_since_ms = now;
    metrics_->AttemptRestarted(e.job.id());
    const std::string from = e.checkpoints.empty()
                                 ? std::string("the start (no complete checkpoint)")
                                 : absl::StrCat("step ", e.checkpoints.rbegin()->first);
    SetJobState(e, bagel::v1::RESTARTING,
                absl::StrCat(why, "; restart ", e.job.restarts(), " of ", e.job.max_restarts(),
                             " from ", from),
                batch);
  }
}

void ControlPlane::SyncCheckpoints(JobEntry& e, WriteBatch& batch) {
  const std::string dir = JobDir(e.job.id());
  if (!fs::is_directory(dir)) return;
  const auto on_disk = ScanCheckpoints(dir);
  std::set<int64_t> present;
  const int32_t attempt = e.attempts.empty() ? 0 : e.attempts.back().attempt.index();
  const int64_t final_step =
      e.job.final_checkpoint().empty()
          ? -1
          : StepOfDirName(fs::path(e.job.final_checkpoint()).filename().string());
  for (const auto& c : on_disk) {
    present.insert(c.step);
    auto it = e.checkpoints.find(c.step);
    const bool is_final = c.step == final_step;
    if (it == e.checkpoints.end() || it->second.bytes() != c.bytes ||
        it->second.final() != is_final) {
      bagel::v1::Checkpoint& rec = e.checkpoints[c.step];
      if (rec.job_id().empty()) {
        rec.set_job_id(e.job.id());
        rec.set_attempt(attempt);
        rec.set_created_unix_ms(clock_->NowMs());
      }
      rec.set_step(c.step);
      rec.set_path(c.path);
      rec.set_bytes(c.bytes);
      rec.set_final(is_final);
      batch.checkpoints.push_back(rec);
    }
  }
  for (auto it = e.checkpoints.begin(); it != e.checkpoints.end();) {
    if (!present.count(it->first)) {
      batch.deleted_checkpoints.push_back({e.job.id(), it->first});
      it = e.checkpoints.erase(it);
    } else {
      ++it;
    }
  }
}

// ----------------------------------------------------------------------------------------------
// Pins

std::map<std::string, std::map<std::string, std::vector<std::string>>> ControlPlane::ComputePins()
    const {
  std::map<std::string, std::map<std::string, std::vector<std::string>>> pins;
  for (const auto& [id, e] : jobs_) {
    if (IsTerminal(e.job.state())) continue;
    if (!e.job.depends_on().empty()) {
      auto dep = jobs_.find(e.job.depends_on());
      if (dep != jobs_.end() && !dep->second.job.final_checkpoint().empty()) {
        pins[dep->first][fs::path(dep->second.job.final_checkpoint()).filename().string()]
            .push_back(absl::StrCat("initialises job ", id));
      }
    }
    if (!e.attempts.empty() && IsActive(e.attempts.back().attempt.state())) {
      const auto& a = e.attempts.back().attempt;
      if (!a.resume_from().empty()) {
        pins[id][fs::path(a.resume_from()).filename().string()].push_back(
            absl::StrCat("restart point of attempt ", a.index()));
      }
    } else if (e.job.state() == bagel::v1::RESTARTING && !e.checkpoints.empty()) {
      pins[id][fs::path(e.checkpoints.rbegin()->second.path()).filename().string()].push_back(
          "restart point of the next attempt");
    }
  }
  return pins;
}

void ControlPlane::SyncPins() {
  const auto pins = ComputePins();
  std::map<std::string, std::string> content;
  for (const auto& [job, names] : pins) {
    std::string text;
    for (const auto& [name, why] : names) absl::StrAppend(&text, name, "\n");
    content[job] = text;
  }
  for (const auto& [job, old] : pinned_written_) {
    if (!content.count(job)) content[job] = "";
  }
  for (const auto& [job, text] : content) {
    auto it = pinned_written_.find(job);
    if (it != pinned_written_.end() && it->second == text) continue;
    if (it == pinned_written_.end() && text.empty()) continue;
    std::vector<std::string> names;
    if (auto p = pins.find(job); p != pins.end()) {
      for (const auto& [name, why] : p->second) names.push_back(name);
    }
    if (auto s = WritePinned(JobDir(job), names); !s.ok()) {
      std::cerr << "bagel-coordinator: " << s << std::endl;
      continue;
    }
    pinned_written_[job] = text;
  }
}

// ----------------------------------------------------------------------------------------------
// Time

void ControlPlane::ExpireLeases(WriteBatch& batch) {
  const int64_t now = clock_->NowMs();
  for (auto& [name, w] : workers_) {
    if (w.rec.worker.state() == bagel::v1::WORKER_LOST || w.lease_expires_ms >= now) continue;
    SetWorkerState(w, bagel::v1::WORKER_LOST, batch);
    if (w.stream) {
      w.stream->Close();
      w.stream.reset();
    }
    for (auto& [id, e] : jobs_) {
      AttemptRecord* a = ActiveAttempt(e);
      if (!a) continue;
      for (auto& r : a->ranks) {
        if (r.worker == name && r.state != RankState::kExited && IsActive(a->attempt.state())) {
          RankExited(e, *a, r.rank, -1,
                     absl::StrCat("worker ", name, " lost (no heartbeat for ",
                                  options_.lease_ttl_ms / 1000.0, " s)"),
                     batch);
        }
      }
    }
  }
}

void ControlPlane::EnforceStopDeadlines(WriteBatch& batch) {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : jobs_) {
    AttemptRecord* a = ActiveAttempt(e);
    if (!a || a->attempt.state() != bagel::v1::ATTEMPT_STOPPING || a->stop_deadline_ms > now) {
      continue;
    }
    for (auto& r : a->ranks) {
      if (r.state == RankState::kExited) continue;
      r.state = RankState::kExited;
      r.exit_code = -1;
      r.message = "did not confirm the stop in time";
      metrics_->RankExited(-1);
    }
    MaybeFinishAttempt(e, *a, batch);
  }
}

void ControlPlane::Schedule(WriteBatch& batch) {
  const int64_t now = clock_->NowMs();
  const auto usage = ComputeUsage();
  std::vector<WorkerCapacity> free, fleet;
  for (const auto& [name, w] : workers_) {
    const auto& rec = w.rec.worker;
    if (rec.state() != bagel::v1::WORKER_READY || !w.stream || w.lease_expires_ms < now) continue;
    WorkerCapacity c{name, rec.gpus(), rec.gpus(), rec.cpu_slots(), rec.cpu_slots()};
    fleet.push_back(c);
    if (auto u = usage.find(name); u != usage.end()) {
      c.gpus_free -= u->second.gpus;
      c.cpu_free -= u->second.cpu;
    }
    free.push_back(c);
  }
  std::vector<JobEntry*> queue;
  for (auto& [id, e] : jobs_) {
    const auto s = e.job.state();
    if ((s != bagel::v1::PENDING && s != bagel::v1::RESTARTING) || ActiveAttempt(e) ||
        e.job.cancel_requested()) {
      continue;
    }
    if (!e.job.depends_on().empty()) {
      auto dep = jobs_.find(e.job.depends_on());
      const JobState ds = dep == jobs_.end() ? bagel::v1::FAILED : dep->second.job.state();
      if (ds == bagel::v1::FAILED || ds == bagel::v1::CANCELLED) {
        SetJobState(e, bagel::v1::FAILED,
                    absl::StrCat("dependency ", e.job.depends_on(), " ended ", JobState_Name(ds)),
                    batch);
        continue;
      }
      if (ds != bagel::v1::SUCCEEDED) continue;
      if (dep->second.job.hf_export().empty()) {
        SetJobState(e, bagel::v1::FAILED,
                    absl::StrCat("dependency ", e.job.depends_on(), " left no HF export"), batch);
        continue;
      }
    }
    queue.push_back(&e);
  }
  std::sort(queue.begin(), queue.end(), [](const JobEntry* a, const JobEntry* b) {
    if (a->job.priority() != b->job.priority()) return a->job.priority() > b->job.priority();
    if (a->job.created_unix_ms() != b->job.created_unix_ms()) {
      return a->job.created_unix_ms() < b->job.created_unix_ms();
    }
    return a->job.id() < b->job.id();
  });
  bool blocked = false;
  for (JobEntry* e : queue) {
    GangRequest req{static_cast<int>(e->spec.parallel.workers),
                    static_cast<int>(e->spec.parallel.gpus_per_worker)};
    const bool ever = CouldEverFit(req, fleet);
    std::optional<std::vector<std::string>> placed;
    if (!blocked && ever) placed = PlaceGang(req, free);
    if (placed) {
      for (auto& c : free) {
        if (std::find(placed->begin(), placed->end(), c.name) == placed->end()) continue;
        if (req.gpus_per_worker > 0) {
          c.gpus_free -= req.gpus_per_worker;
        } else {
          c.cpu_free -= 1;
        }
      }
      StartAttempt(*e, *placed, batch);
      continue;
    }
    const std::string need =
        absl::StrCat(req.workers, " worker(s) with ",
                     req.gpus_per_worker > 0 ? absl::StrCat(req.gpus_per_worker, " free GPU(s)")
                                             : std::string("a free CPU slot"));
    std::string msg;
    if (!ever) {
      // Waiting cannot help until the fleet grows: do not hold up the jobs behind.
      msg = absl::StrCat("waiting for workers: needs ", need, "; ", fleet.size(),
                         " schedulable worker(s) registered");
    } else {
      msg = blocked ? "queued behind a job of higher priority or earlier submission"
                    : absl::StrCat("waiting for capacity: needs ", need);
      blocked = true;  // strict priority, then FIFO: no backfill past a job that fits later
    }
    if (e->job.state() == bagel::v1::PENDING) SetJobState(*e, bagel::v1::PENDING, msg, batch);
  }
}

void ControlPlane::FlushProgress(WriteBatch& batch) {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : jobs_) {
    if (!e.progress_dirty || now - e.progress_saved_ms < 2000) continue;
    e.progress_dirty = false;
    e.progress_saved_ms = now;
    MarkJob(e);
  }
}

void ControlPlane::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  // Measured on the steady clock: the pass's own cost, whatever the injected clock says.
  const auto t0 = std::chrono::steady_clock::now();
  WriteBatch batch;
  ExpireLeases(batch);
  EnforceStopDeadlines(batch);
  Schedule(batch);
  FlushProgress(batch);
  Commit(batch);
  SyncPins();
  metrics_->TickFinished(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void ControlPlane::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shut_down_ = true;
  for (auto& [id, e] : jobs_) {
    for (auto& w : e.watchers) {
      if (auto q = w.lock()) q->Close();
    }
    e.watchers.clear();
    if (e.progress_dirty) MarkJob(e);
  }
  for (auto& [name, w] : workers_) {
    if (w.stream) w.stream->Close();
  }
  WriteBatch batch;
  Commit(batch);
}

ClusterSnapshot ControlPlane::SnapshotForMetrics() {
  std::lock_guard<std::mutex> lock(mu_);
  ClusterSnapshot out;
  out.now_unix_ms = clock_->NowMs();
  for (const auto& [id, e] : jobs_) {
    const JobState s = e.job.state();
    ++out.jobs_by_state[s];
    if (IsTerminal(s)) continue;
    JobMetricsView v;
    v.id = id;
    v.name = e.job.name();
    v.owner = e.job.owner();
    v.stage = e.job.stage();
    v.depends_on = e.job.depends_on();
    v.state = s;
    v.world_size = e.job.world_size();
    v.restarts = e.job.restarts();
    if (!e.attempts.empty()) {
      v.attempt = e.attempts.back().attempt.index();
      v.attempt_started_unix_ms = e.attempts.back().attempt.started_unix_ms();
    }
    v.progress = e.job.progress();
    v.has_step = v.progress.step_time_s() > 0 || v.progress.tokens() > 0;
    if (!e.checkpoints.empty()) {
      const auto& c = e.checkpoints.rbegin()->second;
      v.checkpoint_step = c.step();
      v.checkpoint_bytes = c.bytes();
      v.checkpoint_unix_ms = c.created_unix_ms();
    }
    out.active_jobs.push_back(std::move(v));
  }
  const auto usage = ComputeUsage();
  for (const auto& [name, w] : workers_) {
    WorkerMetricsView v;
    v.name = name;
    v.state = w.rec.worker.state();
    v.gpus = w.rec.worker.gpus();
    v.cpu_slots = w.rec.worker.cpu_slots();
    v.last_heartbeat_unix_ms = w.rec.worker.last_heartbeat_unix_ms();
    if (auto u = usage.find(name); u != usage.end()) {
      v.gpus_in_use = u->second.gpus;
      v.cpu_slots_in_use = u->second.cpu;
    }
    out.workers.push_back(std::move(v));
  }
  return out;
}

size_t ControlPlane::JobCountForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

}  // namespace bagel::coord
