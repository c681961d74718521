#include "worker/dist/communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "worker/dist/local_launcher.h"

namespace bagel::dist {
namespace {

DistEnv Env(int rank, int port, int listen_fd) {
  DistEnv e;
  e.rank = rank;
  e.world_size = 2;
  e.local_rank = rank;
  e.local_world_size = 2;
  e.master_port = port;
  e.master_listen_fd = rank == 0 ? listen_fd : -1;
  return e;
}

TEST(CommunicatorTest, OneRankNeedsNoBackend) {
  auto c = Communicator::Create(DistEnv{}, at::kCPU, std::chrono::seconds(1));
  at::Tensor t = at::ones({3});
  c->AllReduceSum(t);
  EXPECT_TRUE(t.equal(at::ones({3})));
  at::Tensor out = at::empty({3});
  c->AllGather(out, t);
  EXPECT_TRUE(out.equal(t));
}

// Two ranks (threads of this process) on Gloo: a sum, a gather and a reduce-scatter.
TEST(CommunicatorTest, CollectivesOfTwoRanks) {
  const auto [fd, port] = ListenOnFreePort();
  auto rank = [&](int r) {
    auto c = Communicator::Create(Env(r, port, fd), at::kCPU, std::chrono::seconds(30));
    at::Tensor t = at::full({2}, static_cast<double>(r + 1));
    c->AllReduceSum(t);
    EXPECT_TRUE(t.equal(at::full({2}, 3.0)));
    at::Tensor in = at::full({2}, static_cast<double>(r)), all = at::empty({4});
    c->AllGather(all, in);
    EXPECT_TRUE(all.equal(at::tensor({0.0, 0.0, 1.0, 1.0}).to(at::kFloat)));
    at::Tensor scatter_in = at::arange(4, at::kFloat), mine = at::empty({2});
    c->ReduceScatterSum(mine, scatter_in);
    EXPECT_TRUE(mine.equal(at::arange(2 * r, 2 * r + 2, at::kFloat) * 2));
    c->Barrier();
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
}

// A background thread's Post/Await (the asynchronous checkpoint writer agreeing on a publish)
// while the training thread blocks in WaitForRankZero (evaluation samples on rank 0): they use
// different store connections, so neither waits for the other. Sharing one connection, rank 1's
// Post queued behind its own WaitForRankZero and rank 0's Await never returned: a deadlock.
TEST(CommunicatorTest, PostAndAwaitRunBesideAWaitForRankZero) {
  const auto [fd, port] = ListenOnFreePort();
  std::atomic<int> agreed{0};
  auto rank = [&](int r) {
    auto c = Communicator::Create(Env(r, port, fd), at::kCPU, std::chrono::seconds(30));
    std::thread writer([&] {
      try {
        c->Post("written/" + std::to_string(r), "ok");
        EXPECT_EQ(c->Await("written/" + std::to_string(1 - r), std::chrono::seconds(10)), "ok");
        ++agreed;
      } catch (const CollectiveError& e) {
        ADD_FAILURE() << "rank " << r << ": " << e.what();
      }
    });
    // Rank 0 finishes its "samples" only once its writer agreed; rank 1 waits for it meanwhile.
    if (r == 0) writer.join();
    c->WaitForRankZero("eval-samples");
    if (r == 1) writer.join();
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
  EXPECT_EQ(agreed.load(), 2);
}

// A rank that never joins the collective (hung or dead): the other one gets a CollectiveError
// after the group's timeout, not a hang -- the trainer turns it into exit status 4.
TEST(CommunicatorTest, ACollectiveAPeerNeverJoinsFailsAfterTheTimeout) {
  const auto [fd, port] = ListenOnFreePort();
  std::promise<void> done;
  std::thread silent([&] {
    auto c = Communicator::Create(Env(1, port, fd), at::kCPU, std::chrono::seconds(2));
    done.get_future().wait();  // alive but never calls the allreduce
  });
  auto c = Communicator::Create(Env(0, port, fd), at::kCPU, std::chrono::seconds(2));
  at::Tensor t = at::ones({4});
  const auto start = std::chrono::steady_clock::now();
  try {
    c->AllReduceSum(t);
    ADD_FAILURE() << "the allreduce returned without its peer";
  } catch (const CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find("allreduce failed"), std::string::npos) << e.what();
  }
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 1.5);
  EXPECT_LT(waited, 30.0);
  done.set_value();
  silent.join();
}

TEST(CommunicatorTest, NcclFailureSettingsMakeWaitsBlockAndKeepTheProcess) {
  ApplyNcclFailureSettings();
  EXPECT_STREQ(std::getenv("TORCH_NCCL_BLOCKING_WAIT"), "1");
  EXPECT_STREQ(std::getenv("TORCH_NCCL_ASYNC_ERROR_HANDLING"), "2");
  EXPECT_STREQ(std::getenv("TORCH_NCCL_ENABLE_MONITORING"), "0");
  EXPECT_EQ(NcclFailureSettings().size(), 3u);
}

}  // namespace
}  // namespace bagel::dist
