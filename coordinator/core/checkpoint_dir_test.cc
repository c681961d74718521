#include "coordinator/core/checkpoint_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "contract/checkpoint_layout.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;

class CheckpointDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("ckpt-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void Write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  // A step directory with one 5-byte shard and a manifest listing it with `listed` bytes.
  void Step(const std::string& name, int listed, bool manifest = true) {
    Write(dir_ / name / "rank-0-of-1.safetensors", "12345");
    if (manifest) {
      Write(dir_ / name / contract::kManifestFile,
            R"({"files":[{"path":"rank-0-of-1.safetensors","size":)" + std::to_string(listed) +
                R"(,"sha256":"x"}]})");
    }
  }
  fs::path dir_;
};

TEST_F(CheckpointDirTest, ScansOnlyCompleteSteps) {
  Step("step-00000010", 5);
  Step("step-00000030", 5);
  Step("step-00000020", 6);                                          // size mismatch
  Step("step-00000040", 5, false);                                   // no manifest yet
  Step("step-00000050" + std::string(contract::kStagingSuffix), 5);  // being written
  Write(dir_ / "step-00000060" / contract::kManifestFile, "{not json");
  auto found = ScanCheckpoints(dir_.string());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].step, 10);
  EXPECT_EQ(found[1].step, 30);
  EXPECT_EQ(found[1].bytes, 5);
  EXPECT_EQ(found[1].path, (dir_ / "step-00000030").string());
}

TEST_F(CheckpointDirTest, ManifestAsMapAndLatestAndPinned) {
  Write(dir_ / "step-00000005" / "a.bin", "abc");
  Write(dir_ / "step-00000005" / contract::kManifestFile, R"({"files":{"a.bin":{"size":3}}})");
  EXPECT_TRUE(IsCompleteCheckpoint((dir_ / "step-00000005").string()));
  Write(dir_ / contract::kLatestFile, "step-00000005\n");
  EXPECT_EQ(ReadLatest(dir_.string()), "step-00000005");
  ASSERT_TRUE(WritePinned(dir_.string(), {"step-00000005", "step-00000001"}).ok());
  std::ifstream in(dir_ / contract::kPinnedFile);
  std::string a, b;
  in >> a >> b;
  EXPECT_EQ(a, "step-00000005");
  EXPECT_EQ(b, "step-00000001");
  EXPECT_FALSE(fs::exists(dir_ / ".PINNED.tmp"));
}

// A step directory is named as contract::StepOfDirName says: "step-" and 8 to 18 digits.
TEST_F(CheckpointDirTest, OnlyContractStepNamesAreSteps) {
  Step("step-00000050", 5);
  Step("step-123456789", 5);  // steps past 99,999,999 take more digits
  Step("step-7", 5);
  Step("step-12", 5);
  Step("step-", 5);
  Step(std::string("step-00000012") + std::string(contract::kStagingSuffix), 5);
  Step("step-0000001x", 5);
  Step("hf", 5);
  auto found = ScanCheckpoints(dir_.string());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].step, 50);
  EXPECT_EQ(found[1].step, 123456789);
}

}  // namespace
}  // namespace bagel::coord
