// bagel-coordinator's Prometheus metrics (SERVICE.md, Observability): the ControlPlaneMetrics
// hooks count events (submissions, finished jobs, queue wait, gang start latency, restarts, rank
// exits, lost leases, checkpoint saves, scheduler passes), and at scrape time the exporter reads
// a ClusterSnapshot for what is state rather than an event: jobs and workers by state, GPU
// allocation, and the per-job series of every unfinished job (bagel_job_info, bagel_job_state,
// the training values of rank 0's newest "step" line, the newest checkpoint).
//
// Cardinality: series labelled job_id exist only while the job is unfinished (PENDING,
// SCHEDULED, RUNNING, RESTARTING) and vanish with the next scrape after it ends, so their number
// is bounded by the active jobs, not by history; every other label has a fixed set of values or
// the fleet's worker names. Descriptive job labels (name, owner, stage) live only on the join
// metric bagel_job_info{job_id, ...} 1, never on the hot training series.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "coordinator/core/metrics.h"
#include "coordinator/core/metrics_snapshot.h"
#include "service/metrics/metric_def.h"

namespace bagel::metrics {

class CoordinatorMetrics final : public coord::ControlPlaneMetrics, public prometheus::Collectable {
 public:
  using SnapshotFn = std::function<coord::ClusterSnapshot()>;
  using NowFn = std::function<int64_t()>;  // Unix milliseconds

  // Shared: the HTTP endpoint holds it weakly.
  static std::shared_ptr<CoordinatorMetrics> Create();

  // Where scrape-time state comes from (the control plane, once it exists). Until set, only
  // the event counters are exported.
  void SetSnapshotSource(SnapshotFn fn);

  // Every family this exporter can export (the scrape shows per-job ones only while a job is
  // unfinished).
  static const std::vector<MetricDef>& Catalogue();

  // ControlPlaneMetrics.
  void JobStateChanged(bagel::v1::JobState from, bagel::v1::JobState to) override;
  void JobSubmitted() override;
  void Scheduled(double queue_wait_seconds) override;
  void AttemptRunning(double start_seconds) override;
  void AttemptRestarted(const std::string& job_id) override;
  void RankExited(int32_t exit_code) override;
  void WorkerStateChanged(bagel::v1::WorkerState from, bagel::v1::WorkerState to) override;
  void Progress(const std::string& job_id, const bagel::v1::Progress& progress) override;
  void CheckpointPublished(const std::string& job_id, int64_t bytes, double seconds,
                           double blocking_s) override;
  void TickFinished(double seconds) override;

  // prometheus::Collectable: the registry's families plus the scrape-time ones.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  CoordinatorMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* submitted_ = nullptr;
  std::map<bagel::v1::JobState, prometheus::Counter*> finished_;
  prometheus::Histogram* queue_wait_ = nullptr;
  prometheus::Histogram* start_latency_ = nullptr;
  prometheus::Histogram* tick_ = nullptr;
  prometheus::Counter* restarts_ = nullptr;
  std::map<std::string, prometheus::Counter*> exits_;
  prometheus::Counter* leases_expired_ = nullptr;
  prometheus::Histogram* checkpoint_seconds_ = nullptr;
  prometheus::Histogram* checkpoint_blocking_ = nullptr;
  prometheus::Counter* checkpoint_bytes_ = nullptr;

  mutable std::mutex mu_;  // guards what follows
  SnapshotFn snapshot_;
  // Per-job values the control plane does not keep; pruned at each scrape to unfinished jobs.
  mutable std::map<std::string, double> tokens_total_;
  mutable std::map<std::string, double> last_checkpoint_seconds_;
  mutable std::map<std::string, double> last_checkpoint_blocking_;
};

}  // namespace bagel::metrics
