// The coordinator's service config (YAML): where it listens, its database, the checkpoint root,
// the roots job specs may name, credentials, TLS, leases and limits. The format is documented in
// docs/CONTROL_PLANE.md. Pure C++ (yaml-cpp, abseil status): no gRPC, no LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace bagel::config {

enum class Role { kUser, kAdmin };

// One user: a bearer token (given inline or read from a file) and a role.
struct UserCredential {
  std::string name;
  std::string token;  // secret: never logged
  Role role = Role::kUser;
};

struct TlsConfig {
  std::string cert_file;  // PEM; empty: plaintext
  std::string key_file;
  std::string client_ca_file;  // non-empty: workers (and users) must present a client certificate
  bool enabled() const { return !cert_file.empty(); }
};

struct AuthConfig {
  bool enabled = true;  // false: every caller is the admin "anonymous" (local development only)
  std::vector<UserCredential> users;
  std::string worker_token;  // the join token agents present; secret
};

struct ServiceConfig {
  std::string listen = "127.0.0.1:7070";  // host:port; port 0 picks a free port
  std::string port_file;                  // when set, the bound port is written here
  // Prometheus /metrics over HTTP (metrics: {listen, port_file}); empty: no endpoint.
  std::string metrics_listen;
  std::string metrics_port_file;
  std::string database = "bagel-coordinator.db";
  std::string checkpoint_root;          // required: <root>/<job>/step-N, logs, metrics
  std::vector<std::string> data_roots;  // spec paths must lie under these or checkpoint_root
  TlsConfig tls;
  AuthConfig auth;
  int64_t heartbeat_interval_ms = 2000;
  int64_t lease_ttl_ms = 10000;
  int64_t scheduler_tick_ms = 200;
  int64_t cancel_grace_ms = 30000;  // SIGTERM -> SIGKILL on cancel (ranks checkpoint first)
  int64_t abort_grace_ms = 5000;    // SIGTERM -> SIGKILL on a coordinated abort
  int64_t stop_timeout_ms = 60000;  // after grace: ranks never confirmed are taken as gone
  int64_t max_message_bytes = 4 << 20;
  int64_t max_active_jobs_per_user = 10000;  // PENDING..RUNNING; more is RESOURCE_EXHAUSTED
  int64_t drain_ms = 1000;                   // NOT_SERVING is visible this long before shutdown
};

// Parses and validates a service config; INVALID_ARGUMENT lists every problem as
// "<field>: got <value>, expected <what>" (secrets are never echoed). Relative file paths are
// resolved against `base_dir` (the config file's directory).
absl::StatusOr<ServiceConfig> ParseServiceConfig(const std::string& yaml_text,
                                                 const std::string& base_dir = "");

// Reads the file and parses it (NOT_FOUND when it cannot be read).
absl::StatusOr<ServiceConfig> ReadServiceConfigFile(const std::string& path);

}  // namespace bagel::config
