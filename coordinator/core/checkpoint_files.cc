// The control plane's side of the checkpoint directories (contract/checkpoint_layout.h), all
// under its lock: which checkpoints a job has on disk (SyncCheckpoints), what a finished attempt
// left (the final checkpoint LATEST names, the HF export), and the PINNED files that keep the
// trainer's retention from deleting a restart point or a dependent job's initialisation.
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "contract/checkpoint_layout.h"
#include "coordinator/core/checkpoint_dir.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/core/control_plane_internal.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
using internal::IsActive;
using internal::IsTerminal;

// Where the trainer writes a job's HF export when checkpoint.export_hf is set.
constexpr std::string_view kHfExportDir = "hf";

}  // namespace

void ControlPlane::SyncCheckpoints(JobEntry& e, WriteBatch& batch) {
  const std::string dir = JobDir(e.job.id());
  if (!fs::is_directory(dir)) return;
  const auto on_disk = ScanCheckpoints(dir);
  std::set<int64_t> present;
  const int32_t attempt = e.attempts.empty() ? 0 : e.attempts.back().attempt.index();
  std::optional<int64_t> final_step;
  if (!e.job.final_checkpoint().empty()) {
    final_step = contract::StepOfDirName(fs::path(e.job.final_checkpoint()).filename().string());
  }
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

void ControlPlane::AdoptFinalOutputs(JobEntry& e) {
  const std::string dir = JobDir(e.job.id());
  if (e.job.final_checkpoint().empty()) {
    const std::string latest = ReadLatest(dir);
    if (!latest.empty()) e.job.set_final_checkpoint((fs::path(dir) / latest).string());
  }
  if (e.job.hf_export().empty() && e.spec.checkpoint.export_hf &&
      fs::is_directory(fs::path(dir) / kHfExportDir)) {
    e.job.set_hf_export((fs::path(dir) / kHfExportDir).string());
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

}  // namespace bagel::coord
