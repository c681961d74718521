#include "worker/agent/gpu_memory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace bagel::agent {
namespace {

TEST(GpuMemoryTest, ParsesNvidiaSmiCsvInMebibytes) {
  auto g = ParseNvidiaSmiMemory("0, 1024, 81559\n1, 0, 81559\n");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].index, 0);
  EXPECT_EQ((*g)[0].used_bytes, int64_t{1024} << 20);
  EXPECT_EQ((*g)[1].total_bytes, int64_t{81559} << 20);
}

TEST(GpuMemoryTest, NamesALineThatDoesNotParse) {
  auto g = ParseNvidiaSmiMemory("0, 12, 80\nNo devices were found\n");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(std::string(g.status().message()).find("No devices were found"), std::string::npos);
}

TEST(GpuMemoryTest, RunsTheToolAndReportsWhenItFails) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "fake-smi";
  std::filesystem::create_directories(dir);
  const auto ok = dir / "smi-ok", bad = dir / "smi-bad";
  std::ofstream(ok) << "#!/bin/sh\necho '0, 2, 4'\n";
  std::ofstream(bad) << "#!/bin/sh\nexit 9\n";
  for (const auto& p : {ok, bad}) {
    std::filesystem::permissions(p, std::filesystem::perms::owner_all);
  }
  auto g = QueryGpuMemory(ok.string());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].total_bytes, int64_t{4} << 20);
  EXPECT_EQ(QueryGpuMemory(bad.string()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(QueryGpuMemory((dir / "missing").string()).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace bagel::agent
