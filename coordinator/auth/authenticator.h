// Bearer-token authentication (SERVICE.md, Security): user tokens (roles user and admin) and the
// workers' join token, from the service config. Tokens are compared in constant time and never
// appear in errors or logs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "coordinator/auth/principal.h"

namespace bagel::coord {

class Authenticator {
 public:
  explicit Authenticator(const config::AuthConfig& config);

  // Authenticates an "authorization" metadata value ("Bearer <token>"). UNAUTHENTICATED when it
  // is missing, malformed or matches no credential. With auth disabled every caller is the
  // admin "anonymous" (and a worker on the worker API).
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const;

  // For the user APIs: as Authenticate, and PERMISSION_DENIED for the worker join token.
  absl::StatusOr<Principal> AuthenticateUser(std::string_view authorization) const;
  // For the worker API: as Authenticate, and PERMISSION_DENIED for user tokens.
  absl::StatusOr<Principal> AuthenticateWorker(std::string_view authorization) const;

 private:
  bool enabled_;
  std::vector<config::UserCredential> users_;
  std::string worker_token_;
};

// Equality of two secrets in time independent of where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace bagel::coord
