// The attempt state machine: an attempt is placed (StartAttempt), its ranks start (ReportStarted,
// the rendezvous from rank 0), exit (ReportExit, RankExited) or are stopped (StopAttempt, stop
// deadlines), and the attempt ends (MaybeFinishAttempt): the job succeeds, is cancelled, fails or
// restarts from its newest checkpoint. Exit statuses follow contract/exit_code.h.
#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "contract/exit_code.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/core/control_plane_internal.h"
#include "service/common/utf8.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using bagel::v1::Assignment;
using bagel::v1::JobEvent;
using contract::ExitCode;
using contract::ExitStatus;
using internal::IsActive;
using internal::kExitLost;

// A rank killed by signal N exits with 128 + N (contract::ExitReason: "signal").
constexpr int32_t kSignalExitBase = 128;

}  // namespace

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
      r.exit_code = kExitLost;
      r.message = "worker lost";
      metrics_->RankExited(kExitLost);
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
  r.message = service::SanitizeUtf8(message.substr(0, 2000));
  MarkAttempt(a);
  const auto s = a.attempt.state();
  if (s == bagel::v1::ATTEMPT_STARTING || s == bagel::v1::ATTEMPT_RUNNING) {
    if (code == ExitStatus(ExitCode::kDone)) {
      MaybeFinishAttempt(e, a, batch);
      return;
    }
    if (!contract::RestartMayHelp(code)) a.permanent_failure = true;
    std::string why = code < 0 ? absl::StrCat("rank ", rank, ": ", service::SanitizeUtf8(message))
                               : absl::StrCat("rank ", rank, " exited with code ", code);
    if (code > kSignalExitBase) absl::StrAppend(&why, " (signal ", code - kSignalExitBase, ")");
    if (code >= 0 && !message.empty())
      absl::StrAppend(&why, ": ", service::SanitizeUtf8(message.substr(0, 300)));
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
  bool all_done = true;
  for (const auto& r : a.ranks) all_done &= r.exit_code == ExitStatus(ExitCode::kDone);
  if (a.attempt.state() != bagel::v1::ATTEMPT_STOPPING && all_done) {
    a.attempt.set_state(bagel::v1::ATTEMPT_SUCCEEDED);
    AdoptFinalOutputs(e);
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
      r.exit_code = kExitLost;
      r.message = "did not confirm the stop in time";
      metrics_->RankExited(kExitLost);
    }
    MaybeFinishAttempt(e, *a, batch);
  }
}

}  // namespace bagel::coord
