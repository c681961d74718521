// How clients of the coordinator (bagelctl, bagel-worker, tests) connect: a channel (TLS when a
// CA is given) and per-call contexts that carry the bearer token and a deadline.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace bagel::service {

struct ClientOptions {
  std::string target = "127.0.0.1:7070";  // host:port
  std::string token;                      // bearer token (user or worker join token)
  std::string ca_cert_file;               // PEM: use TLS and trust this CA
  std::string client_cert_file;           // PEM: present a client certificate (mTLS)
  std::string client_key_file;
  std::string tls_server_name;  // override the name checked in the server certificate
  int max_message_bytes = 16 << 20;
};

// Creates the channel (no connection is made until the first call). INVALID_ARGUMENT/NOT_FOUND
// when a certificate file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

// A context with "authorization: Bearer <token>" (when the token is non-empty) and a deadline.
std::unique_ptr<grpc::ClientContext> MakeContext(const std::string& token,
                                                 std::chrono::milliseconds deadline);

// Reads a token from a file (trailing whitespace removed).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace bagel::service
