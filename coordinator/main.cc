// bagel-coordinator: the gRPC server of the training service (SERVICE.md). Holds jobs, attempts,
// workers and checkpoints in SQLite, schedules jobs onto registered workers, detects failures and
// restarts from checkpoints, and serves Prometheus metrics on a separate HTTP port.
// SIGTERM/SIGINT: health NOT_SERVING, then drain and exit 0.
//
//   bagel-coordinator --config coordinator.yaml [--listen HOST:PORT] [--port-file FILE]
//                     [--metrics-listen HOST:PORT] [--metrics-port-file FILE]
//   bagel-coordinator --metric-catalogue     (prints every metric family it can export)
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "config/service_config.h"
#include "coordinator/metrics/coordinator_metrics.h"
#include "coordinator/rpc/coordinator_server.h"
#include "service/metrics/metrics_endpoint.h"

int main(int argc, char** argv) {
  CLI::App app{"bagel-coordinator: the BAGEL training service's coordinator"};
  std::string config_path, listen, port_file, metrics_port_file;
  std::string metrics_listen;
  bool catalogue = false;
  app.add_option("--config", config_path, "service config (YAML, docs/CONTROL_PLANE.md)");
  app.add_option("--listen", listen,
                 "override the config's listen address (HOST:PORT; port 0 = any)");
  app.add_option("--port-file", port_file, "write the bound port to this file");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 = any); overrides "
                 "env BAGEL_METRICS_LISTEN, which overrides the config's metrics.listen");
  app.add_option("--metrics-port-file", metrics_port_file,
                 "write the bound metrics port to this file");
  app.add_flag("--metric-catalogue", catalogue,
               "print every metric family (name, type, labels, help; tab-separated) and exit");
  CLI11_PARSE(app, argc, argv);
  if (catalogue) {
    bagel::metrics::PrintCatalogue(std::cout, bagel::metrics::CoordinatorMetrics::Catalogue());
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "bagel-coordinator: --config is required" << std::endl;
    return 2;
  }

  // Signals are taken by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto config = bagel::config::ReadServiceConfigFile(config_path);
  if (!config.ok()) {
    std::cerr << "bagel-coordinator: " << config.status().message() << std::endl;
    return 2;
  }
  if (!listen.empty()) config->listen = listen;
  if (!port_file.empty()) config->port_file = port_file;
  if (metrics_listen.empty() && std::getenv("BAGEL_METRICS_LISTEN")) {
    metrics_listen = std::getenv("BAGEL_METRICS_LISTEN");
  }
  if (!metrics_listen.empty()) config->metrics_listen = metrics_listen;
  if (!metrics_port_file.empty()) config->metrics_port_file = metrics_port_file;
  auto metrics = bagel::metrics::CoordinatorMetrics::Create();
  auto server = bagel::coord::CoordinatorServer::Start(*config, nullptr, metrics.get());
  if (!server.ok()) {
    std::cerr << "bagel-coordinator: " << server.status() << std::endl;
    return 1;
  }
  bagel::coord::ControlPlane* control_plane = (*server)->control_plane();
  metrics->SetSnapshotSource([control_plane] { return control_plane->SnapshotForMetrics(); });
  // Declared after the server: destroyed first, so no scrape reaches a destroyed control plane.
  std::unique_ptr<bagel::metrics::MetricsEndpoint> endpoint;
  if (!config->metrics_listen.empty()) {
    auto e = bagel::metrics::MetricsEndpoint::Start(config->metrics_listen, {metrics},
                                                    config->metrics_port_file);
    if (!e.ok()) {
      std::cerr << "bagel-coordinator: " << e.status() << std::endl;
      (*server)->Shutdown();
      return 1;
    }
    endpoint = std::move(*e);
  }
  std::cerr << "bagel-coordinator: serving on port " << (*server)->port() << " (database "
            << config->database << ", checkpoints " << config->checkpoint_root << ", auth "
            << (config->auth.enabled ? "on" : "OFF") << ", TLS "
            << (config->tls.enabled() ? "on" : "off") << ", metrics "
            << (endpoint ? "on port " + std::to_string(endpoint->port()) : std::string("off"))
            << ")" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "bagel-coordinator: signal " << sig << ": NOT_SERVING, draining" << std::endl;
  (*server)->Shutdown();
  std::cerr << "bagel-coordinator: stopped" << std::endl;
  return 0;
}
