// A group of ranks and the collectives training needs, on torch's c10d: ProcessGroupGloo for
// CPU tensors, ProcessGroupNCCL for CUDA tensors, rendezvous through a TCPStore on rank 0.
//
// A collective that does not complete within the timeout (a rank died or hangs) throws
// CollectiveError, which the trainer turns into an exit that the coordinator answers with a
// coordinated restart. A group of one rank needs no backend: its collectives are local.
//
// Gloo waits on the host by nature. NCCL does not: wait() only orders streams, and a hung or
// failed collective is found by c10d's watchdog thread, which by default aborts the process
// (no `error` event, no exit status 4). So before any NCCL group is made, ApplyNcclFailureSettings
// switches c10d to blocking waits (the host waits, and throws after the timeout or on an NCCL
// error), lets the watchdog only clean up communicators, and turns off its heartbeat monitor:
// every NCCL failure then reaches the caller as a CollectiveError, exactly as with Gloo.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/dist/dist_env.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

namespace bagel::dist {

class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The c10d environment settings of the NCCL failure rule above, as (variable, value).
const std::vector<std::pair<std::string, std::string>>& NcclFailureSettings();
// Sets them in this process's environment (c10d reads them when a group is made).
void ApplyNcclFailureSettings();

// A pending asynchronous collective.
class PendingCollective {
 public:
  PendingCollective() = default;
  // `backend` is aborted when the collective fails, so that tearing the group down afterwards
  // cannot hang on a communicator stuck in the failed collective.
  PendingCollective(c10::intrusive_ptr<c10d::Work> work, std::string what,
                    c10::intrusive_ptr<c10d::Backend> backend = {});
  // Blocks the host until done; throws CollectiveError on failure or timeout. No-op when empty.
  void Wait();
  // Orders the work: on a GPU the current stream waits for the collective (the host does not:
  // no synchronisation inside a training step); elsewhere the same as Wait. A failure or hang
  // then surfaces at the next host wait (the step-boundary agreement,
  // contract/TRAINER_CONTRACT.md).
  void WaitOnStream();
  bool pending() const { return work_.defined(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::string what_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  bool cuda_ = false;  // NCCL: stream-ordered waits are possible
};

class Communicator {
 public:
  // The world group of `env`, for tensors on `device` (CPU: Gloo; CUDA: NCCL).
  static std::shared_ptr<Communicator> Create(const DistEnv& env, const at::Device& device,
                                              std::chrono::milliseconds timeout);
  ~Communicator();

  // A subgroup of this (world) group: `members` are world ranks and must include this rank;
  // every member must call Subgroup with the same members and `tag`.
  std::shared_ptr<Communicator> Subgroup(const std::vector<int>& members, const std::string& tag);

  int rank() const { return rank_; }
  int size() const { return size_; }
  const at::Device& device() const { return device_; }

  // In-place sum over the group. `host_wait`: the host waits for it (and any failure raises
  // here, within the timeout); otherwise only the stream is ordered after it (WaitOnStream).
  void AllReduceSum(at::Tensor& tensor, bool host_wait = true);
  // out [size * n] <- concat of every rank's in [n], in rank order.
  PendingCollective AllGatherAsync(at::Tensor& out, at::Tensor& in);
  void AllGather(at::Tensor& out, at::Tensor& in) { AllGatherAsync(out, in).Wait(); }
  // out [n] <- this rank's slice of the sum over ranks of in [size * n].
  PendingCollective ReduceScatterSumAsync(at::Tensor& out, at::Tensor& in);
  void ReduceScatterSum(at::Tensor& out, at::Tensor& in) { ReduceScatterSumAsync(out, in).Wait(); }
  void Barrier();
  // For work only rank 0 does that may outlast the collective timeout (evaluation images): rank 0
  // calls it when done; every other rank blocks in it until then, through the rendezvous store
  // and without the timeout. A rank 0 that dies ends the attempt through its agent instead.
  void WaitForRankZero(const std::string& key);

  // Small values posted and awaited through the rendezvous store, outside the collectives'
  // order: what ranks use to agree off the training thread (the asynchronous checkpoint
  // writers). They go through a second connection to the store, opened at the first call: a
  // store client serves one request at a time and holds its connection through a wait, so
  // sharing the training thread's connection would let a writer's Await and the training
  // thread's WaitForRankZero block each other (a deadlock, seen with evaluation during an
  // asynchronous checkpoint). One thread at a time per communicator. Await throws
  // CollectiveError after `timeout` or when the store is gone (rank 0 died). A one-rank group
  // uses an in-process table.
  void Post(const std::string& key, const std::string& value);
  std::string Await(const std::string& key, std::chrono::milliseconds timeout);

 private:
  Communicator(int rank, int size, at::Device device, std::chrono::milliseconds timeout);
  void Check(const char* what) const;
  c10d::Store& SideStore();

  int rank_, size_;
  at::Device device_;
  std::chrono::milliseconds timeout_;
  std::vector<int> world_ranks_;  // group rank -> world rank
  std::string master_addr_;
  int master_port_ = 0;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Store> side_store_;  // Post/Await's own connection
  std::mutex side_store_mu_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  // Post/Await of a one-rank group.
  std::mutex posts_mu_;
  std::condition_variable posts_cv_;
  std::map<std::string, std::string> posts_;
};

}  // namespace bagel::dist
