// bagel-worker's Prometheus metrics (SERVICE.md, Observability; docs/METRICS.md): the agent's
// health (registration, heartbeats, report backlog, ranks, GPUs), the ranks it started and how
// they ended, the driver's GPU memory, and per-rank training series decoded from the JSON
// progress lines it forwards (docs/TRAINER_CONTRACT.md): step, loss by head, learning rate, grad
// norm, tokens, tokens/s, step time, MFU, the rank's peak memory, validation loss, checkpoint
// save time and time of the newest checkpoint.
//
// Cardinality: per-rank series carry {job_id, rank} and exist for the attempts this agent runs
// plus the newest `keep_finished` finished ones (so a scrape after a short job still sees its
// final values), never more; rank is bounded by the GPUs (or CPU slots) of the machine. Other
// labels have fixed value sets (reason, head, state, kind, result) or the machine's GPU indices.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "service/metrics/metric_def.h"
#include "service/metrics/training_series.h"
#include "worker/agent/gpu_memory.h"

namespace bagel::agent {

// The agent's state at scrape time (Agent::HealthForMetrics).
struct AgentHealth {
  bool registered = false;
  int64_t last_heartbeat_unix_ms = 0;  // 0: none acknowledged yet
  int ranks_running = 0;
  int ranks_stopping = 0;
  int gpus = 0;
  int gpus_free = 0;
  int64_t backlog_started = 0;
  int64_t backlog_progress = 0;
  int64_t backlog_exits = 0;
};

class AgentMetrics final : public prometheus::Collectable {
 public:
  using HealthFn = std::function<AgentHealth()>;
  using GpuMemoryFn = std::function<absl::StatusOr<std::vector<GpuMemory>>()>;

  // `gpu_memory` is asked at every scrape (default: none, no GPU memory series).
  static std::shared_ptr<AgentMetrics> Create(GpuMemoryFn gpu_memory = nullptr,
                                              size_t keep_finished = 4);

  // Every family this exporter can export.
  static const std::vector<metrics::MetricDef>& Catalogue();

  void SetHealthSource(HealthFn fn);

  // Hooks the agent calls; cheap, never block on I/O, safe from any thread.
  void Registered(bool ok);
  void Heartbeat(bool ok);
  void RankStarted(const std::string& job_id, int32_t attempt, int32_t rank);
  void Line(const std::string& job_id, int32_t attempt, int32_t rank, const std::string& json,
            int64_t unix_ms);
  void LineDropped();
  void RankExited(const std::string& job_id, int32_t attempt, int32_t rank, int exit_code);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  AgentMetrics(GpuMemoryFn gpu_memory, size_t keep_finished);

  struct RankSeries {
    bool running = true;
    int32_t attempt = 0;                    // the newest attempt started for this job and rank
    metrics::TrainingValues training;       // the shared per-rank training series
    std::map<std::string, double> skipped;  // data records skipped, by reason (cumulative)
    int64_t checkpoint_unix_ms = 0;         // 0: none yet
    int64_t checkpoint_step = 0;
    double checkpoint_seconds = 0;
    double checkpoint_blocking_s = 0;
    int64_t checkpoint_bytes = 0;
  };
  using Key = std::pair<std::string, int32_t>;  // job id, rank

  std::shared_ptr<prometheus::Registry> registry_;
  GpuMemoryFn gpu_memory_;
  size_t keep_finished_;
  prometheus::Counter* registrations_ok_ = nullptr;
  prometheus::Counter* registrations_failed_ = nullptr;
  prometheus::Counter* heartbeats_ok_ = nullptr;
  prometheus::Counter* heartbeats_failed_ = nullptr;
  prometheus::Counter* starts_ = nullptr;
  prometheus::Counter* restarts_ = nullptr;
  std::map<std::string, prometheus::Counter*> exits_;
  prometheus::Counter* lines_ = nullptr;
  prometheus::Counter* dropped_ = nullptr;
  prometheus::Counter* checkpoints_ = nullptr;

  mutable std::mutex mu_;  // guards what follows
  HealthFn health_;
  std::map<Key, RankSeries> ranks_;
  std::deque<Key> finished_;  // oldest first; at most keep_finished_
};

}  // namespace bagel::agent
