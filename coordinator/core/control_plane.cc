// ControlPlane's shared core: construction, recovery, the write-through of dirty state (Commit),
// job events and state changes, and the periodic Tick and Shutdown. The member functions of each
// other idea live beside it: job_api.cc, worker_api.cc, attempts.cc, progress.cc,
// checkpoint_files.cc, scheduling.cc, metrics_snapshot.cc.
#include "coordinator/core/control_plane.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "coordinator/core/control_plane_internal.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using bagel::v1::JobEvent;
using bagel::v1::JobState;
using internal::IsActive;
using internal::IsTerminal;

std::vector<std::string> Roots(const ControlPlaneOptions& o) {
  std::vector<std::string> r = o.data_roots;
  r.push_back(o.checkpoint_root);
  return r;
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

ControlPlane::ControlPlane(ControlPlaneOptions options, Store* store, const service::Clock* clock,
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

std::string ControlPlane::JobDir(const std::string& job_id) const {
  return (fs::path(options_.checkpoint_root) / job_id).string();
}

AttemptRecord* ControlPlane::ActiveAttempt(JobEntry& e) {
  if (e.attempts.empty() || !IsActive(e.attempts.back().attempt.state())) return nullptr;
  return &e.attempts.back();
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
// Time

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

size_t ControlPlane::JobCountForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

}  // namespace bagel::coord
