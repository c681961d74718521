#include "coordinator/policy/path_policy.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;

TEST(PathPolicyTest, ConfinesToRoots) {
  const fs::path tmp = fs::path(::testing::TempDir()) / "path-policy";
  fs::remove_all(tmp);
  fs::create_directories(tmp / "data" / "sub");
  fs::create_directories(tmp / "outside");
  fs::create_directory_symlink(tmp / "outside", tmp / "data" / "escape");
  PathPolicy p({(tmp / "data").string(), "/ckpt"});
  EXPECT_TRUE(p.Allowed((tmp / "data" / "sub" / "x.jsonl").string()));
  EXPECT_TRUE(p.Allowed((tmp / "data").string()));
  EXPECT_TRUE(p.Allowed("/ckpt/job/hf"));
  EXPECT_FALSE(p.Allowed("/ckptx/job"));
  EXPECT_FALSE(p.Allowed((tmp / "data" / ".." / "outside" / "x").string()));
  EXPECT_FALSE(p.Allowed((tmp / "data" / "escape" / "x").string()));  // symlink out
  EXPECT_FALSE(p.Allowed("relative/path"));
  EXPECT_FALSE(p.Allowed(""));
  auto s = p.Check("model.vae", "/etc/passwd");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("model.vae: got /etc/passwd, expected a path under"),
            std::string::npos);
}

TEST(PathPolicyTest, EverySpecPathIsChecked) {
  config::JobSpec spec;
  spec.model.init_from.kind = config::InitFrom::Kind::kPath;
  spec.model.init_from.path = "/ckpt/base";
  spec.model.vae = "/etc/ae.safetensors";
  spec.data.tokenizer = "/data/tok";
  config::DataGroupSpec g;
  g.name = "a";
  g.type = "vlm_sft";
  g.paths = {"/data/a.jsonl", "/tmp/../etc/b.jsonl"};
  g.image_root = "/data/img";
  spec.data.groups.push_back(g);
  spec.eval.dataset = g;
  const auto paths = SpecPaths(spec);
  EXPECT_EQ(paths.size(), 9u);
  auto s = CheckSpecPaths(spec, PathPolicy({"/data", "/ckpt"}));
  ASSERT_FALSE(s.ok());
  const std::string m(s.message());
  EXPECT_NE(m.find("model.vae: got /etc/ae.safetensors"), std::string::npos);
  EXPECT_NE(m.find("data.groups[0].paths[1]"), std::string::npos);
  EXPECT_NE(m.find("eval.dataset.paths[1]"), std::string::npos);
  EXPECT_EQ(m.find("data.groups[0].paths[0]"), std::string::npos);
}

}  // namespace
}  // namespace bagel::coord
