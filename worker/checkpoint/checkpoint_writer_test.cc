#include "worker/checkpoint/checkpoint_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "contract/checkpoint_layout.h"
#include "model/io/safetensors.h"
#include "testing/temp_dir.h"
#include "worker/dist/local_launcher.h"

namespace bagel::ckpt {
namespace {

namespace fs = std::filesystem;

RankSnapshot Snap(int64_t step, at::Tensor x) {
  RankSnapshot s;
  s.step = step;
  s.tensors = {{"x", std::move(x)}};
  s.metadata = {{"data_position", std::to_string(step)}};
  s.train_state = {{"note", "writer"}};
  s.keep_last = 5;
  return s;
}

float SavedX(const std::string& step_dir) {
  return io::SafetensorsFile::Open((fs::path(step_dir) / contract::RankFileName(0, 1)).string())
      ->Read("x")[0]
      .item<float>();
}

class CheckpointWriterTest : public ::testing::TestWithParam<bool> {};

// Synchronous and asynchronous writers publish the same checkpoints; each is reported once.
TEST_P(CheckpointWriterTest, PublishesEveryCheckpointAndReportsItOnce) {
  const bagel::testing::TempDir root;
  CheckpointStore store((root.path() / "job").string());
  auto world = dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(30));
  CheckpointWriter writer(store, world, /*async=*/GetParam());
  for (int64_t step = 1; step <= 3; ++step) {
    writer.Save(Snap(step, at::full({4}, static_cast<float>(step))));
    if (!GetParam() && step < 3) {  // synchronous: reported as soon as Save returns
      auto done = writer.TakeFinished();
      ASSERT_TRUE(done.has_value());
      EXPECT_EQ(done->step, step);
    }
  }
  writer.Wait();
  auto last = writer.TakeFinished();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->step, 3);
  EXPECT_GT(last->result.bytes, 0);
  EXPECT_FALSE(writer.TakeFinished().has_value());
  EXPECT_NO_THROW(CheckpointStore::Validate(last->result.path));
  EXPECT_EQ(SavedX(last->result.path), 3.0f);
  EXPECT_EQ(fs::path(*store.FindLatestComplete()).filename(), "step-00000003");
}

INSTANTIATE_TEST_SUITE_P(Modes, CheckpointWriterTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Async" : "Sync"; });

// The asynchronous snapshot is a copy: training that goes on writing the state after Save does
// not reach the file.
TEST(CheckpointWriterAsyncTest, TheSnapshotIsTakenWhenSaveReturns) {
  const bagel::testing::TempDir root;
  CheckpointStore store((root.path() / "job").string());
  auto world = dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(30));
  CheckpointWriter writer(store, world, /*async=*/true);
  at::Tensor live = at::full({1 << 20}, 1.0f);
  writer.Save(Snap(1, live));
  live.fill_(2.0f);  // the next optimizer step
  writer.Wait();
  EXPECT_EQ(SavedX(writer.TakeFinished()->result.path), 1.0f);
}

// A write that fails in the background is rethrown on the training thread.
TEST(CheckpointWriterAsyncTest, AFailedWriteIsRethrownByWait) {
  const bagel::testing::TempDir root;
  const fs::path blocked = root.path() / "file";
  std::ofstream(blocked) << "not a directory";
  CheckpointStore store((blocked / "job").string());
  auto world = dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(30));
  CheckpointWriter writer(store, world, /*async=*/true);
  writer.Save(Snap(1, at::zeros({2})));
  EXPECT_ANY_THROW(writer.Wait());
  EXPECT_NO_THROW(writer.Wait());  // reported once
}

// Three ranks (threads) write asynchronously and agree through the store: one manifest with
// every rank's file and metadata; a rank that fails makes every rank's write fail.
TEST(CheckpointWriterAsyncTest, RanksAgreeThroughTheStore) {
  const bagel::testing::TempDir root;
  const int world_size = 3;
  const auto [listen_fd, port] = dist::ListenOnFreePort();
  const std::string job = (root.path() / "multi").string();
  std::vector<std::thread> ranks;
  std::vector<std::string> errors(world_size), second(world_size);
  for (int r = 0; r < world_size; ++r) {
    ranks.emplace_back([&, r] {
      try {
        dist::DistEnv env;
        env.rank = r;
        env.world_size = world_size;
        env.local_rank = r;
        env.local_world_size = world_size;
        env.master_port = port;
        if (r == 0) env.master_listen_fd = listen_fd;
        auto comm = dist::Communicator::Create(env, at::kCPU, std::chrono::seconds(60));
        CheckpointStore store(job);
        CheckpointWriter writer(store, comm, /*async=*/true);
        RankSnapshot s = Snap(4, at::full({2}, static_cast<float>(r)));
        s.metadata["data_position"] = std::to_string(10 + r);
        writer.Save(std::move(s));
        writer.Wait();
        // Step 5: rank 2's write fails in the background (safetensors has no complex dtype): every
        // rank's fails, naming it.
        RankSnapshot bad = Snap(5, at::zeros({2}, r == 2 ? at::kComplexFloat : at::kFloat));
        writer.Save(std::move(bad));
        try {
          writer.Wait();
        } catch (const std::exception& e) {
          second[r] = e.what();
        }
        comm->Barrier();
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (int r = 0; r < world_size; ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
    EXPECT_NE(second[r].find(r == 2 ? "cannot store dtype" : "rank 2: safetensors cannot store"),
              std::string::npos)
        << "rank " << r << ": " << second[r];
  }
  const std::string dir = (fs::path(job) / "step-00000004").string();
  EXPECT_NO_THROW(CheckpointStore::Validate(dir));
  EXPECT_EQ(CheckpointStore::ReadTrainState(dir)["ranks"][2]["data_position"], "12");
  EXPECT_FALSE(fs::exists(fs::path(job) / "step-00000005"));
  std::ifstream latest(fs::path(job) / "LATEST");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "step-00000004");
}

}  // namespace
}  // namespace bagel::ckpt
