// The user API of the control plane (JobService): submit, read, list, cancel and watch jobs, and
// find their checkpoints, logs and export. Every call sees only the caller's jobs (admins: all).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/core/control_plane_internal.h"
#include "service/common/utf8.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using bagel::v1::JobState;
using internal::IsActive;
using internal::IsTerminal;
using internal::ValidName;

std::string PageToken(const bagel::v1::Job& j) {
  return absl::StrCat(j.created_unix_ms(), ":", j.id());
}

// Newest first.
bool ListOrder(const bagel::v1::Job& a, const bagel::v1::Job& b) {
  if (a.created_unix_ms() != b.created_unix_ms()) return a.created_unix_ms() > b.created_unix_ms();
  return a.id() > b.id();
}

}  // namespace

std::string ControlPlane::NewJobId() {
  static const char* kHex = "0123456789abcdef";
  for (;;) {
    std::string id = "j-";
    uint64_t v = rng_();
    for (int i = 0; i < 12; ++i, v >>= 4) id += kHex[v & 15];
    if (!jobs_.count(id)) return id;
  }
}

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

absl::StatusOr<SubmitResult> ControlPlane::SubmitJob(const Principal& who,
                                                     const std::string& spec_yaml,
                                                     const std::string& request_id) {
  if (request_id.size() > 128 || (!request_id.empty() && !ValidName(request_id, 128))) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id: got ", request_id.substr(0, 64),
                     ", expected at most 128 characters of [A-Za-z0-9._-]"));
  }
  if (!service::IsValidUtf8(spec_yaml)) {
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
  if (!service::IsValidUtf8(canonical)) {
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

}  // namespace bagel::coord
