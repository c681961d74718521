// bagel-control-plane-bench: submit latency and throughput of the coordinator under load
// (default 1,000 submissions from 8 client threads while 100 simulated workers heartbeat every
// 200 ms and run every job), against an in-process coordinator on loopback with its SQLite
// database on local disk. Prints a markdown table for docs/PERFORMANCE_CONTROL_PLANE.md.
#include <CLI/CLI.hpp>
#include <iostream>

#include "tests/service/in_process_coordinator.h"
#include "tests/service/load_driver.h"

int main(int argc, char** argv) {
  CLI::App app{"bagel-control-plane-bench"};
  bagel::testing::LoadOptions o;
  app.add_option("--submissions", o.submissions, "jobs to submit");
  app.add_option("--workers", o.workers, "simulated workers");
  app.add_option("--client-threads", o.client_threads, "submitting threads");
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "heartbeat interval of the simulated workers");
  o.hold_s = 10;
  app.add_option("--hold-s", o.hold_s, "keep the workers heartbeating this long after the drain");
  CLI11_PARSE(app, argc, argv);
  bagel::testing::InProcessCoordinator coord("bench", [&](bagel::config::ServiceConfig& c) {
    c.heartbeat_interval_ms = o.heartbeat_ms;
    c.lease_ttl_ms = 10000;
  });
  o.target = coord.target();
  o.user_token = bagel::testing::kAliceToken;
  o.join_token = bagel::testing::kJoinToken;
  o.drain_timeout_s = 600;
  const auto r = bagel::testing::RunLoad(o);
  std::cout << "| metric | value |\n| --- | --- |\n"
            << "| load | " << o.submissions << " submissions, " << o.client_threads
            << " client threads, " << o.workers << " simulated workers (heartbeat every "
            << o.heartbeat_ms << " ms) |\n"
            << r.Summary();
  const bool clean = r.submit_errors == 0 && r.heartbeat_errors == 0 && r.report_errors == 0 &&
                     r.jobs_succeeded == r.submit_ok;
  return clean ? 0 : 1;
}
