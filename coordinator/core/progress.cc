// What the trainer reports on stdout while an attempt runs (contract/progress_line.h), applied
// to the job: progress, evaluation values, published checkpoints, the final checkpoint and HF
// export, errors; "step" and "eval" lines are also kept in the job's metrics.jsonl.
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "contract/progress_line.h"
#include "coordinator/core/control_plane.h"
#include "service/common/utf8.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using bagel::v1::JobEvent;

}  // namespace

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

void ControlPlane::ApplyTrainerLine(JobEntry& e, const AttemptRecord& a, const std::string& json,
                                    WriteBatch& batch) {
  // Not a progress line (the trainer's other output): nothing to apply.
  const std::optional<contract::ProgressLine> line = contract::ParseProgressLine(json);
  if (!line) return;
  auto* p = e.job.mutable_progress();
  const int64_t now = clock_->NowMs();
  using K = contract::ProgressLine::Kind;
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
      p->set_mem_bytes(static_cast<int64_t>(line->mem_bytes));
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
      // A loss the evaluation did not have reads as 0.
      p->set_val_ce(line->val_ce.value_or(0));
      p->set_val_mse(line->val_mse.value_or(0));
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
      metrics_->CheckpointPublished(e.job.id(), line->bytes, line->seconds, line->blocking_s);
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
      const std::string msg = service::SanitizeUtf8(
          absl::StrCat("rank ", line->rank, ": ", line->message.substr(0, 2000)));
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

void ControlPlane::FlushProgress(WriteBatch& batch) {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : jobs_) {
    if (!e.progress_dirty || now - e.progress_saved_ms < 2000) continue;
    e.progress_dirty = false;
    e.progress_saved_ms = now;
    MarkJob(e);
  }
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

}  // namespace bagel::coord
