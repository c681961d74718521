#include "worker/checkpoint/checkpoint_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <fstream>
#include <thread>
#include "contract/checkpoint_layout.h"

#include "model/io/safetensors.h"
#include "testing/temp_dir.h"
#include "worker/checkpoint/sha256.h"
#include "worker/dist/local_launcher.h"

namespace bagel::ckpt {
namespace {

namespace fs = std::filesystem;

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(30));
  }

  WriteResult WriteStep(CheckpointStore& store, int64_t step, int64_t keep = 10) {
    std::map<std::string, at::Tensor> tensors = {{"x", at::full({4}, static_cast<float>(step))}};
    return store.Write(*world_, step, tensors, {{"data_position", std::to_string(step * 3)}},
                       {{"note", "test"}}, keep);
  }

  bagel::testing::TempDir root_;
  std::shared_ptr<dist::Communicator> world_;
};

TEST_F(CheckpointStoreTest, WritesAManifestedStepAndLatest) {
  CheckpointStore store((root_.path() / "job").string());
  WriteResult r = WriteStep(store, 5);
  EXPECT_EQ(fs::path(r.path).filename(), "step-00000005");
  EXPECT_GT(r.bytes, 0);
  EXPECT_NO_THROW(CheckpointStore::Validate(r.path));
  EXPECT_FALSE(fs::exists(root_.path() / "job" / "step-00000005.staging"));
  std::ifstream latest(root_.path() / "job" / "LATEST");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "step-00000005");
  auto state = CheckpointStore::ReadTrainState(r.path);
  EXPECT_EQ(state["step"], 5);
  EXPECT_EQ(state["world_size"], 1);
  EXPECT_EQ(state["note"], "test");
  EXPECT_EQ(state["ranks"][0]["data_position"], "15");
  EXPECT_EQ(store.FindLatestComplete().value(), r.path);
}

TEST_F(CheckpointStoreTest, CorruptOrPartialCheckpointsAreRefusedAndThePreviousOneUsed) {
  CheckpointStore store((root_.path() / "job").string());
  WriteStep(store, 1);
  WriteResult second = WriteStep(store, 2);
  // Flip a byte of the newest rank file: its digest no longer matches.
  const fs::path rank_file = fs::path(second.path) / contract::RankFileName(0, 1);
  {
    std::fstream f(rank_file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  try {
    CheckpointStore::Validate(second.path);
    FAIL() << "corruption not detected";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank-0-of-1.safetensors does not match its SHA-256"),
              std::string::npos)
        << e.what();
  }
  std::vector<std::string> problems;
  EXPECT_EQ(fs::path(*store.FindLatestComplete(&problems)).filename(), "step-00000001");
  ASSERT_FALSE(problems.empty());
  // The cheap check passes it (same size); the rank's one verified read refuses it by name.
  EXPECT_EQ(fs::path(*store.FindLatestComplete(nullptr, /*full=*/false)).filename(),
            "step-00000002");
  const auto files = CheckpointStore::CheckManifest(second.path);
  try {
    CheckpointStore::ReadVerified(second.path, contract::RankFileName(0, 1),
                                  files.at(contract::RankFileName(0, 1)));
    FAIL() << "corruption not detected by the verified read";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank-0-of-1.safetensors does not match its SHA-256"),
              std::string::npos)
        << e.what();
  }
  // A step directory without a manifest (crash before publishing) is never loaded.
  fs::create_directories(root_.path() / "job" / "step-00000009");
  std::ofstream(root_.path() / "job" / "step-00000009" / "rank-0-of-1.safetensors") << "partial";
  problems.clear();
  EXPECT_EQ(fs::path(*store.FindLatestComplete(&problems)).filename(), "step-00000001");
  bool named = false;
  for (const auto& p : problems) named |= p.find("no MANIFEST.json") != std::string::npos;
  EXPECT_TRUE(named);
  // A missing file named by the manifest.
  fs::remove(fs::path(second.path) / "train_state.json");
  EXPECT_THROW(CheckpointStore::Validate(second.path), c10::Error);
}

// The hash is computed while writing; a verified read gives back what was written.
TEST_F(CheckpointStoreTest, TheManifestHashIsTheWrittenFilesAndVerifiedReadsLoadIt) {
  CheckpointStore store((root_.path() / "job").string());
  WriteResult r = WriteStep(store, 3);
  const auto files = CheckpointStore::CheckManifest(r.path);
  const std::string name = contract::RankFileName(0, 1);
  EXPECT_EQ(files.at(name).sha256, Sha256File((fs::path(r.path) / name).string()));
  auto file = CheckpointStore::ReadVerified(r.path, name, files.at(name));
  EXPECT_TRUE(file->Read("x").equal(at::full({4}, 3.0f)));
  EXPECT_EQ(file->metadata().at("data_position"), "9");
  EXPECT_EQ(store.CandidatesNewestFirst(), std::vector<std::string>{r.path});
}

TEST_F(CheckpointStoreTest, RetentionKeepsTheNewestLatestAndPinned) {
  CheckpointStore store((root_.path() / "job").string());
  WriteStep(store, 1);
  WriteStep(store, 2);
  fs::create_directories(root_.path() / "job");
  std::ofstream(root_.path() / "job" / "PINNED") << "step-00000001\n";
  WriteStep(store, 3, /*keep=*/1);
  WriteResult r = WriteStep(store, 4, /*keep=*/1);
  EXPECT_TRUE(fs::exists(root_.path() / "job" / "step-00000001"));  // pinned
  EXPECT_FALSE(fs::exists(root_.path() / "job" / "step-00000002"));
  EXPECT_FALSE(fs::exists(root_.path() / "job" / "step-00000003"));
  EXPECT_TRUE(fs::exists(r.path));
}

TEST_F(CheckpointStoreTest, APublishedStepIsNeverOverwritten) {
  CheckpointStore store((root_.path() / "job").string());
  WriteResult first = WriteStep(store, 7);
  const std::string digest_before = fs::path(first.path).string();
  std::map<std::string, at::Tensor> other = {{"x", at::full({4}, 123.0f)}};
  store.Write(*world_, 7, other, {}, {}, 10);
  auto x = io::SafetensorsFile::Open((fs::path(first.path) / contract::RankFileName(0, 1)).string())
               ->Read("x");
  EXPECT_EQ(x[0].item<float>(), 7.0f);
}

TEST_F(CheckpointStoreTest, SeveralRanksWriteOneCheckpoint) {
  const int world = 3;
  const auto [listen_fd, port] = dist::ListenOnFreePort();
  const std::string job = (root_.path() / "multi").string();
  std::vector<std::thread> ranks;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    ranks.emplace_back([&, r] {
      try {
        dist::DistEnv env;
        env.rank = r;
        env.world_size = world;
        env.local_rank = r;
        env.local_world_size = world;
        env.master_port = port;
        if (r == 0) env.master_listen_fd = listen_fd;
        auto comm = dist::Communicator::Create(env, at::kCPU, std::chrono::seconds(60));
        CheckpointStore store(job);
        store.Write(*comm, 3, {{"x", at::full({2}, static_cast<float>(r))}},
                    {{"data_position", std::to_string(10 + r)}}, {}, 5);
        auto found = store.ResolveResume(*comm);
        if (!found || fs::path(*found).filename() != "step-00000003")
          errors[r] = "resume not resolved";
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
  const std::string dir = (fs::path(job) / "step-00000003").string();
  EXPECT_NO_THROW(CheckpointStore::Validate(dir));
  auto state = CheckpointStore::ReadTrainState(dir);
  EXPECT_EQ(state["ranks"][2]["data_position"], "12");
}

}  // namespace
}  // namespace bagel::ckpt
