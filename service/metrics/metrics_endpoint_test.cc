#include "service/metrics/metrics_endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace bagel::metrics {
namespace {

// GET /metrics over plain HTTP/1.0; the whole response.
std::string Get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
  close(fd);
  return out;
}

TEST(MetricsEndpointTest, ServesTheRegistryOnAFreePortAndWritesIt) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("bagel_test_total")
      .Help("A test.")
      .Register(*registry)
      .Add({})
      .Increment(3);
  const std::string port_file = ::testing::TempDir() + "/metrics-port";
  std::filesystem::remove(port_file);
  auto e = MetricsEndpoint::Start("127.0.0.1:0", {registry}, port_file);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_GT((*e)->port(), 0);
  int written = 0;
  std::ifstream(port_file) >> written;
  EXPECT_EQ(written, (*e)->port());
  const std::string body = Get((*e)->port(), "/metrics");
  EXPECT_NE(body.find("200 OK"), std::string::npos) << body;
  EXPECT_NE(body.find("# HELP bagel_test_total A test."), std::string::npos) << body;
  EXPECT_NE(body.find("bagel_test_total 3"), std::string::npos) << body;
}

TEST(MetricsEndpointTest, RefusesAnAddressInUse) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto first = MetricsEndpoint::Start("127.0.0.1:0", {registry});
  ASSERT_TRUE(first.ok());
  auto second = MetricsEndpoint::Start("127.0.0.1:" + std::to_string((*first)->port()), {registry});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

}  // namespace
}  // namespace bagel::metrics
