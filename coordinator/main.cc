// bagel-coordinator: the gRPC server of the training service (SERVICE.md). Holds jobs, attempts,
// workers and checkpoints in SQLite, schedules jobs onto registered workers, detects failures and
// restarts from checkpoints. SIGTERM/SIGINT: health NOT_SERVING, then drain and exit 0.
//
//   bagel-coordinator --config coordinator.yaml [--listen HOST:PORT] [--port-file FILE]
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "config/service_config.h"
#include "coordinator/rpc/coordinator_server.h"

int main(int argc, char** argv) {
  CLI::App app{"bagel-coordinator: the BAGEL training service's coordinator"};
  std::string config_path, listen, port_file;
  app.add_option("--config", config_path, "service config (YAML, docs/CONTROL_PLANE.md)")
      ->required();
  app.add_option("--listen", listen,
                 "override the config's listen address (HOST:PORT; port 0 = any)");
  app.add_option("--port-file", port_file, "write the bound port to this file");
  CLI11_PARSE(app, argc, argv);

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
  auto server = bagel::coord::CoordinatorServer::Start(*config);
  if (!server.ok()) {
    std::cerr << "bagel-coordinator: " << server.status() << std::endl;
    return 1;
  }
  std::cerr << "bagel-coordinator: serving on port " << (*server)->port() << " (database "
            << config->database << ", checkpoints " << config->checkpoint_root << ", auth "
            << (config->auth.enabled ? "on" : "OFF") << ", TLS "
            << (config->tls.enabled() ? "on" : "off") << ")" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "bagel-coordinator: signal " << sig << ": NOT_SERVING, draining" << std::endl;
  (*server)->Shutdown();
  std::cerr << "bagel-coordinator: stopped" << std::endl;
  return 0;
}
