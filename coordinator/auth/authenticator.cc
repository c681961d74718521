#include "coordinator/auth/authenticator.h"

#include <algorithm>
#include <cctype>
#include "absl/status/status.h"

namespace bagel::coord {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walks the longer length whatever the inputs, so the time says nothing about the secret.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

Authenticator::Authenticator(const config::AuthConfig& config)
    : enabled_(config.enabled), users_(config.users), worker_token_(config.worker_token) {}

absl::StatusOr<Principal> Authenticator::Authenticate(std::string_view authorization) const {
  if (!enabled_) return Principal{"anonymous", Principal::Kind::kAdmin};
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing credentials: send 'authorization: Bearer <token>'");
  }
  constexpr std::string_view kBearer = "Bearer ";
  bool bearer = authorization.size() > kBearer.size();
  for (size_t i = 0; bearer && i < kBearer.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(authorization[i])) ==
             std::tolower(static_cast<unsigned char>(kBearer[i]));
  }
  if (!bearer) {
    return absl::UnauthenticatedError("malformed authorization: expected 'Bearer <token>'");
  }
  const std::string_view token = authorization.substr(kBearer.size());
  const config::UserCredential* match = nullptr;
  for (const auto& u : users_) {
    if (ConstantTimeEquals(token, u.token)) match = &u;
  }
  if (match) {
    return Principal{match->name, match->role == config::Role::kAdmin ? Principal::Kind::kAdmin
                                                                      : Principal::Kind::kUser};
  }
  if (!worker_token_.empty() && ConstantTimeEquals(token, worker_token_)) {
    return Principal{"worker", Principal::Kind::kWorker};
  }
  return absl::UnauthenticatedError("invalid token");
}

absl::StatusOr<Principal> Authenticator::AuthenticateUser(std::string_view authorization) const {
  auto p = Authenticate(authorization);
  if (p.ok() && p->is_worker()) {
    return absl::PermissionDeniedError("the worker join token cannot call the user API");
  }
  return p;
}

absl::StatusOr<Principal> Authenticator::AuthenticateWorker(std::string_view authorization) const {
  auto p = Authenticate(authorization);
  if (!p.ok()) return p;
  if (!enabled_) return Principal{"anonymous", Principal::Kind::kWorker};
  if (!p->is_worker()) {
    return absl::PermissionDeniedError("only workers (join token) may call the worker API");
  }
  return p;
}

}  // namespace bagel::coord
