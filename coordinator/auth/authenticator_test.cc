#include "coordinator/auth/authenticator.h"

#include <gtest/gtest.h>

namespace bagel::coord {
namespace {

config::AuthConfig Config() {
  config::AuthConfig c;
  c.users = {{"alice", "alice-token-0123456789", config::Role::kUser},
             {"root", "root-token-0123456789ab", config::Role::kAdmin}};
  c.worker_token = "worker-join-token-0123456789";
  return c;
}

TEST(AuthenticatorTest, UsersAdminsAndWorkers) {
  Authenticator a(Config());
  auto alice = a.AuthenticateUser("Bearer alice-token-0123456789");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_FALSE(alice->is_admin());
  auto root = a.AuthenticateUser("bearer root-token-0123456789ab");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->is_admin());
  auto worker = a.AuthenticateWorker("Bearer worker-join-token-0123456789");
  ASSERT_TRUE(worker.ok());
  EXPECT_TRUE(worker->is_worker());
}

TEST(AuthenticatorTest, Refusals) {
  Authenticator a(Config());
  EXPECT_EQ(a.AuthenticateUser("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a.AuthenticateUser("Basic xyz").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a.AuthenticateUser("Bearer wrong").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a.AuthenticateUser("Bearer alice-token-012345678").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a.AuthenticateUser("Bearer worker-join-token-0123456789").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(a.AuthenticateWorker("Bearer alice-token-0123456789").status().code(),
            absl::StatusCode::kPermissionDenied);
  // No secret in any message.
  auto s = a.AuthenticateUser("Bearer alice-token-0123456788").status();
  EXPECT_EQ(std::string(s.message()).find("alice-token"), std::string::npos);
}

TEST(AuthenticatorTest, DisabledMakesEveryoneAdmin) {
  config::AuthConfig c;
  c.enabled = false;
  Authenticator a(c);
  auto p = a.AuthenticateUser("");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->is_admin());
  EXPECT_TRUE(a.AuthenticateWorker("").ok());
}

TEST(AuthenticatorTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST(PrincipalTest, CanActOn) {
  Principal alice{"alice", Principal::Kind::kUser};
  Principal root{"root", Principal::Kind::kAdmin};
  Principal worker{"worker", Principal::Kind::kWorker};
  EXPECT_TRUE(alice.CanActOn("alice"));
  EXPECT_FALSE(alice.CanActOn("bob"));
  EXPECT_TRUE(root.CanActOn("bob"));
  EXPECT_FALSE(worker.CanActOn("worker"));
}

}  // namespace
}  // namespace bagel::coord
