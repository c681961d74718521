// Load on a coordinator: `submissions` job submissions from `client_threads` user threads while
// `workers` simulated agents (in-process gRPC clients, no trainers) register, heartbeat, take
// assignments and answer them at once (started, one progress line, exit 0), so every job runs
// through the scheduler to SUCCEEDED. Used by the load test (small counts) and by
// bagel-control-plane-bench (full counts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bagel::testing {

struct LoadOptions {
  std::string target;  // coordinator HOST:PORT
  std::string user_token;
  std::string join_token;
  int submissions = 1000;
  int workers = 100;
  int gpus_per_worker = 8;
  int client_threads = 8;
  int heartbeat_ms = 200;
  int drain_timeout_s = 120;  // for every job to finish after the last submit
  int hold_s = 0;             // then keep the workers heartbeating this long
};

struct LoadResult {
  int submit_ok = 0;
  int submit_errors = 0;
  int64_t heartbeats_ok = 0;
  int64_t heartbeat_errors = 0;
  int64_t report_errors = 0;  // ReportStarted/Progress/Exit and stream failures
  int jobs_started = 0;       // START assignments the simulated workers received
  int jobs_succeeded = 0;
  double submit_seconds = 0;              // first submit to last reply
  double drain_seconds = 0;               // first submit to every job SUCCEEDED
  double heartbeat_seconds = 0;           // how long the workers heartbeated
  std::vector<double> submit_latency_ms;  // sorted

  double Percentile(double p) const;
  // A markdown table row set describing the run.
  std::string Summary() const;
};

LoadResult RunLoad(const LoadOptions& options);

}  // namespace bagel::testing
