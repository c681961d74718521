// The cluster and worker API of the control plane (WorkerService): registration and the
// reconciliation of what runs on a worker, heartbeats and leases, the assignment streams
// (START, STOP) and draining.
#include <set>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/core/control_plane_internal.h"

namespace bagel::coord {
namespace {

using bagel::v1::Assignment;
using bagel::v1::WorkerState;
using internal::IsActive;
using internal::kExitLost;
using internal::ValidName;

}  // namespace

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
        RankExited(e, *a, r.rank, kExitLost,
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
          RankExited(e, *a, r.rank, kExitLost,
                     absl::StrCat("worker ", name, " lost (no heartbeat for ",
                                  options_.lease_ttl_ms / 1000.0, " s)"),
                     batch);
        }
      }
    }
  }
}

void ControlPlane::SetWorkerState(WorkerEntry& w, WorkerState state, WriteBatch& batch) {
  if (w.rec.worker.state() == state) return;
  metrics_->WorkerStateChanged(w.rec.worker.state(), state);
  w.rec.worker.set_state(state);
  dirty_workers_.insert(w.rec.worker.name());
}

}  // namespace bagel::coord
