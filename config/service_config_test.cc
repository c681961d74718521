#include "config/service_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace bagel::config {
namespace {

TEST(ServiceConfigTest, ParsesAFullConfig) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "svc-config";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "alice.token") << "alice-secret-token-123\n";
  auto c = ParseServiceConfig(R"(
listen: 0.0.0.0:7070
database: state/coordinator.db
checkpoint_root: /ckpt
data_roots: [/data, /models/]
tls: {cert_file: tls/server.pem, key_file: tls/server.key}
auth:
  users:
    - {name: alice, token_file: alice.token}
    - {name: root, token: root-secret-token-1234, role: admin}
  worker_token: worker-secret-token-123
leases: {heartbeat_interval_ms: 1000, ttl_ms: 5000}
stop: {cancel_grace_ms: 10000, abort_grace_ms: 2000}
limits: {max_message_bytes: 1048576, max_active_jobs_per_user: 50}
metrics: {listen: "0.0.0.0:9090", port_file: metrics.port}
)",
                              dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "0.0.0.0:7070");
  EXPECT_EQ(c->database, (dir / "state/coordinator.db").string());
  EXPECT_EQ(c->data_roots, (std::vector<std::string>{"/data", "/models"}));
  EXPECT_TRUE(c->tls.enabled());
  ASSERT_EQ(c->auth.users.size(), 2u);
  EXPECT_EQ(c->auth.users[0].token, "alice-secret-token-123");
  EXPECT_EQ(c->auth.users[1].role, Role::kAdmin);
  EXPECT_EQ(c->lease_ttl_ms, 5000);
  EXPECT_EQ(c->abort_grace_ms, 2000);
  EXPECT_EQ(c->max_active_jobs_per_user, 50);
  EXPECT_EQ(c->metrics_listen, "0.0.0.0:9090");
  EXPECT_EQ(c->metrics_port_file, (dir / "metrics.port").string());
}

TEST(ServiceConfigTest, MetricsNeedAHostAndPort) {
  auto c = ParseServiceConfig(R"(
checkpoint_root: /ckpt
auth: {enabled: false}
metrics: {listen: "9090"}
)");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("metrics.listen: got 9090, expected HOST:PORT"),
            std::string::npos)
      << c.status();
}

TEST(ServiceConfigTest, ReportsEveryProblemWithoutEchoingSecrets) {
  auto c = ParseServiceConfig(R"(
listen: 1.2.3.4:1
checkpoint_rot: /x
auth:
  users:
    - {name: alice, token: short-secret}
    - {name: alice, token: another-long-secret-1, role: wizard}
leases: {heartbeat_interval_ms: 1000, ttl_ms: 1500}
)");
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_NE(m.find("checkpoint_rot: got a value, expected no such field"), std::string::npos);
  EXPECT_NE(m.find("checkpoint_root: got null"), std::string::npos);
  EXPECT_NE(m.find("auth.users[0].token"), std::string::npos);
  EXPECT_NE(m.find("auth.users[1].role: got wizard"), std::string::npos);
  EXPECT_NE(m.find("auth.users[1].name: got alice"), std::string::npos);
  EXPECT_NE(m.find("auth.worker_token"), std::string::npos);
  EXPECT_NE(m.find("leases.ttl_ms"), std::string::npos);
  EXPECT_EQ(m.find("short-secret"), std::string::npos);
}

TEST(ServiceConfigTest, AuthMustBeExplicit) {
  EXPECT_FALSE(ParseServiceConfig("checkpoint_root: /ckpt\n").ok());
  auto c = ParseServiceConfig("checkpoint_root: /ckpt\nauth: {enabled: false}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->auth.enabled);
  EXPECT_FALSE(ParseServiceConfig("checkpoint_root: [\n").ok());
  EXPECT_EQ(ReadServiceConfigFile("/nonexistent.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace bagel::config
