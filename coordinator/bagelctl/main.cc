// bagelctl: the user's command line for the training service (SERVICE.md). Human tables by
// default, --json (protobuf's JSON mapping) for scripts. Every call has a deadline (--timeout);
// `watch` and `logs --follow` reconnect when the coordinator restarts.
//
//   bagelctl submit JOB.yaml [--request-id ID] [--watch]
//   bagelctl list [--state S]... [--name-prefix P] [--owner U] [--limit N]
//   bagelctl get JOB | watch JOB | cancel JOB | checkpoints JOB
//   bagelctl logs JOB [--attempt N] [--rank R] [--follow]
//   bagelctl workers [drain NAME | undrain NAME]
//   bagelctl export JOB --out DIR
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bagel/v1/cluster_service.grpc.pb.h"
#include "bagel/v1/job_service.grpc.pb.h"
#include "coordinator/bagelctl/ctl.h"
#include "coordinator/bagelctl/format.h"
#include "service/client/channel.h"

using bagel::ctl::Ctl;
using bagel::ctl::Globals;

int main(int argc, char** argv) {
  CLI::App app{"bagelctl: submit and follow BAGEL training jobs"};
  app.require_subcommand(1);
  Globals g;
  if (const char* c = std::getenv("BAGEL_COORDINATOR")) g.client.target = c;
  if (const char* t = std::getenv("BAGEL_TOKEN")) g.client.token = t;
  app.add_option("--coordinator", g.client.target, "HOST:PORT (env BAGEL_COORDINATOR)");
  app.add_option("--token", g.client.token, "bearer token (env BAGEL_TOKEN)");
  app.add_option("--token-file", g.token_file, "file holding the bearer token");
  app.add_option("--ca-cert", g.client.ca_cert_file, "PEM CA of the coordinator (enables TLS)");
  app.add_option("--tls-server-name", g.client.tls_server_name,
                 "name to check in the server certificate");
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_option("--timeout", g.timeout_s, "seconds per call (default 30)");

  std::string file, request_id, job, out, name_prefix, owner, action, worker;
  std::vector<std::string> states;
  bool watch_after = false, follow = false;
  int limit = 100, attempt = -1, rank = 0;
  auto* submit = app.add_subcommand("submit", "submit a job spec (YAML); prints the job id");
  submit->add_option("file", file, "job spec")->required();
  submit->add_option("--request-id", request_id, "idempotency key: a retry returns the same job");
  submit->add_flag("--watch", watch_after, "watch the job after submitting");
  auto* list = app.add_subcommand("list", "list your jobs, newest first");
  list->add_option("--state", states, "only jobs in this state (repeatable)");
  list->add_option("--name-prefix", name_prefix, "only names starting with this");
  list->add_option("--owner", owner, "another user's jobs (admins)");
  list->add_option("--limit", limit, "at most this many (default 100)");
  auto* get = app.add_subcommand("get", "show a job");
  get->add_option("job", job)->required();
  auto* watch =
      app.add_subcommand("watch", "follow a job live until it ends (exit 0 if it succeeded)");
  watch->add_option("job", job)->required();
  auto* logs = app.add_subcommand("logs", "print a rank's log of an attempt");
  logs->add_option("job", job)->required();
  logs->add_option("--attempt", attempt, "attempt (default: the newest)");
  logs->add_option("--rank", rank, "rank (default 0)");
  logs->add_flag("-f,--follow", follow, "keep printing until the attempt ends");
  auto* cancel = app.add_subcommand("cancel", "stop every rank of a job");
  cancel->add_option("job", job)->required();
  auto* ckpts = app.add_subcommand("checkpoints", "list a job's complete checkpoints");
  ckpts->add_option("job", job)->required();
  auto* workers =
      app.add_subcommand("workers", "list workers; 'drain NAME' / 'undrain NAME' (admins)");
  workers->add_option("action", action, "drain | undrain")
      ->check(CLI::IsMember({"drain", "undrain"}));
  workers->add_option("name", worker, "worker name");
  auto* exp = app.add_subcommand("export", "download a succeeded job's Hugging Face export");
  exp->add_option("job", job)->required();
  exp->add_option("--out", out, "output directory")->required();
  CLI11_PARSE(app, argc, argv);

  if (!g.token_file.empty()) {
    auto t = bagel::service::ReadTokenFile(g.token_file);
    if (!t.ok()) Ctl::Die(2, std::string(t.status().message()));
    g.client.token = *t;
  }
  if (!action.empty() && worker.empty()) Ctl::Die(2, "workers " + action + ": name the worker");
  Ctl ctl(g);
  if (*submit) return ctl.Submit(file, request_id, watch_after);
  if (*list) return ctl.List(states, name_prefix, owner, limit);
  if (*get) return ctl.Get(job);
  if (*watch) return ctl.Watch(job);
  if (*logs) return ctl.Logs(job, attempt, rank, follow);
  if (*cancel) return ctl.Cancel(job);
  if (*ckpts) return ctl.Checkpoints(job);
  if (*workers) return ctl.Workers(action, worker);
  if (*exp) return ctl.Export(job, out);
  return 2;
}
