// ControlPlane::SnapshotForMetrics: what the metrics exporter reads at scrape time
// (metrics_snapshot.h).
#include "coordinator/core/metrics_snapshot.h"

#include "coordinator/core/control_plane.h"
#include "coordinator/core/control_plane_internal.h"

namespace bagel::coord {
namespace {

using bagel::v1::JobState;
using internal::IsTerminal;

}  // namespace

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

}  // namespace bagel::coord
