// Scheduling: which worker slots are in use (ComputeUsage), and placing runnable jobs on them in
// strict priority, then FIFO order, whole gangs at a time (scheduler/gang_placement.h).
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "coordinator/core/control_plane.h"
#include "coordinator/core/control_plane_internal.h"
#include "coordinator/scheduler/gang_placement.h"

namespace bagel::coord {
namespace {

using bagel::v1::JobState;
using internal::IsActive;

}  // namespace

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

}  // namespace bagel::coord
