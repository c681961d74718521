// bagel-worker: the agent on one machine (SERVICE.md). Registers its GPUs with the coordinator,
// keeps a lease, starts one bagel-train per assigned GPU (one on a CPU machine), forwards
// progress, reports exits, stops ranks on cancel or abort, reconnects after coordinator restarts.
// SIGTERM/SIGINT: every rank gets SIGTERM (it checkpoints), SIGKILL after --shutdown-grace-s.
// Prometheus metrics (agent health, rank exits, GPU memory, per-rank training series) on
// http://HOST:PORT/metrics with --metrics-listen (docs/METRICS.md).
//
//   bagel-worker --coordinator HOST:PORT --token-file JOIN_TOKEN [--name NAME] [--address HOST]
//                [--gpus N] [--cpu-slots N] [--trainer PATH] [--work-dir DIR] [--label K=V]...
//                [--metrics-listen HOST:PORT] [--metrics-port-file FILE]
//   bagel-worker --metric-catalogue     (prints every metric family it can export)
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "service/metrics/metrics_endpoint.h"
#include "worker/agent/agent.h"

namespace {

int CountGpus() {
  // /dev/nvidia0, /dev/nvidia1, ... (not nvidiactl, nvidia-uvm).
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev", ec)) {
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, std::regex("nvidia[0-9]+"))) ++n;
  }
  return n;
}

int64_t MemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024;
    in.ignore(256, '\n');
  }
  return 0;
}

std::string Hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bagel-worker: the BAGEL training service's agent on one machine"};
  bagel::agent::AgentOptions o;
  std::string token_file, ca, cert, key;
  std::vector<std::string> labels;
  int gpus = -1;
  double grace_s = 30;
  std::string metrics_listen =
      std::getenv("BAGEL_METRICS_LISTEN") ? std::getenv("BAGEL_METRICS_LISTEN") : "";
  std::string metrics_port_file, nvidia_smi = "nvidia-smi";
  bool catalogue = false;
  o.client.target =
      std::getenv("BAGEL_COORDINATOR") ? std::getenv("BAGEL_COORDINATOR") : "127.0.0.1:7070";
  o.name = Hostname();
  o.address = Hostname();
  app.add_option("--coordinator", o.client.target,
                 "coordinator address HOST:PORT (env BAGEL_COORDINATOR)");
  app.add_option("--token-file", token_file,
                 "file holding the workers' join token (env BAGEL_JOIN_TOKEN)");
  app.add_option("--ca-cert", ca, "PEM CA of the coordinator's certificate (enables TLS)");
  app.add_option("--client-cert", cert, "PEM client certificate (mutual TLS)");
  app.add_option("--client-key", key, "PEM client key (mutual TLS)");
  app.add_option("--tls-server-name", o.client.tls_server_name,
                 "name to check in the server certificate");
  app.add_option("--name", o.name, "unique, stable worker name (default: hostname)");
  app.add_option("--address", o.address,
                 "address other workers reach this one at (default: hostname)");
  app.add_option("--gpus", gpus, "GPUs to offer (default: the /dev/nvidiaN devices)");
  app.add_option("--cpu-slots", o.cpu_slots, "CPU ranks to offer to jobs with gpus_per_worker: 0");
  app.add_option("--label", labels, "KEY=VALUE label (repeatable)");
  app.add_option("--trainer", o.trainer_path,
                 "bagel-train executable (default: beside this one; env BAGEL_TRAINER)");
  app.add_option("--work-dir", o.work_dir,
                 "where attempt specs are written (default: /tmp/bagel-worker-NAME)");
  app.add_option("--shutdown-grace-s", grace_s, "on SIGTERM, how long ranks get to checkpoint");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 = any; env "
                 "BAGEL_METRICS_LISTEN; default: no metrics endpoint)");
  app.add_option("--metrics-port-file", metrics_port_file,
                 "write the bound metrics port to this file");
  app.add_option("--nvidia-smi", nvidia_smi,
                 "nvidia-smi to read GPU memory with (machines with GPUs only)");
  app.add_flag("--metric-catalogue", catalogue,
               "print every metric family (name, type, labels, help; tab-separated) and exit");
  CLI11_PARSE(app, argc, argv);
  if (catalogue) {
    bagel::metrics::PrintCatalogue(std::cout, bagel::agent::AgentMetrics::Catalogue());
    return 0;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!token_file.empty()) {
    auto t = bagel::service::ReadTokenFile(token_file);
    if (!t.ok()) {
      std::cerr << "bagel-worker: " << t.status().message() << std::endl;
      return 2;
    }
    o.client.token = *t;
  } else if (const char* t = std::getenv("BAGEL_JOIN_TOKEN")) {
    o.client.token = t;
  }
  o.client.ca_cert_file = ca;
  o.client.client_cert_file = cert;
  o.client.client_key_file = key;
  o.gpus = gpus >= 0 ? gpus : CountGpus();
  o.memory_bytes = MemoryBytes();
  for (const auto& l : labels) {
    const auto eq = l.find('=');
    if (eq == std::string::npos) {
      std::cerr << "bagel-worker: --label " << l << ": expected KEY=VALUE" << std::endl;
      return 2;
    }
    o.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  if (o.trainer_path.empty()) {
    if (const char* t = std::getenv("BAGEL_TRAINER")) {
      o.trainer_path = t;
    } else {
      o.trainer_path =
          (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "bagel-train").string();
    }
  }
  // Ranks start in their attempt's work directory: relative paths would no longer resolve.
  o.trainer_path = std::filesystem::absolute(o.trainer_path).lexically_normal().string();
  if (access(o.trainer_path.c_str(), X_OK) != 0) {
    std::cerr << "bagel-worker: trainer " << o.trainer_path << " is not executable" << std::endl;
    return 2;
  }
  if (o.work_dir.empty()) o.work_dir = "/tmp/bagel-worker-" + o.name;
  o.work_dir = std::filesystem::absolute(o.work_dir).lexically_normal().string();
  o.shutdown_grace_ms = static_cast<int64_t>(grace_s * 1000);

  // GPU memory is read from the driver only on a machine that offers GPUs.
  bagel::agent::AgentMetrics::GpuMemoryFn gpu_memory;
  if (o.gpus > 0) gpu_memory = [nvidia_smi] { return bagel::agent::QueryGpuMemory(nvidia_smi); };
  auto metrics = bagel::agent::AgentMetrics::Create(gpu_memory);
  o.metrics = metrics.get();
  bagel::agent::Agent agent(o);
  metrics->SetHealthSource([&agent] { return agent.HealthForMetrics(); });
  // Declared after the agent: destroyed first, so no scrape reaches a destroyed agent.
  std::unique_ptr<bagel::metrics::MetricsEndpoint> endpoint;
  if (!metrics_listen.empty()) {
    auto e = bagel::metrics::MetricsEndpoint::Start(metrics_listen, {metrics}, metrics_port_file);
    if (!e.ok()) {
      std::cerr << "bagel-worker: " << e.status() << std::endl;
      return 1;
    }
    endpoint = std::move(*e);
    std::cerr << "bagel-worker: metrics on port " << endpoint->port() << std::endl;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::cerr << "bagel-worker: signal " << sig << ": stopping ranks" << std::endl;
    agent.Shutdown();
  });
  agent.Run();
  // Run() returned on Shutdown(); the waiter has finished. (If Run() ever returned on its own,
  // wake the waiter so the process can exit.)
  if (waiter.joinable()) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  std::cerr << "bagel-worker: stopped" << std::endl;
  return 0;
}
