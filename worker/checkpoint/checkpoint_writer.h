// Writes a rank's checkpoints on the training thread (synchronous) or on a background thread
// (asynchronous, checkpoint.async), one in flight at a time.
//
// Asynchronous: Save takes a snapshot of the shard state -- copies in host memory that the
// training step never writes (pinned beside a GPU, reused from one checkpoint to the next) --
// and returns; the background thread writes, hashes and publishes it with CheckpointStore's
// rules (staging, manifest last, atomic LATEST), so a crash mid-write leaves the previous
// checkpoint the newest complete one. The next Save, and Wait, block until it is done. A failed
// write is rethrown on the training thread by the next Save, TakeFinished or Wait.
#pragma once

#include <ATen/ATen.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "worker/checkpoint/checkpoint_store.h"
#include "worker/dist/communicator.h"

namespace bagel::ckpt {

struct FinishedCheckpoint {
  int64_t step = 0;
  WriteResult result;     // path, bytes, seconds (the write, snapshot to publication)
  double blocking_s = 0;  // how long Save held the training thread
};

class CheckpointWriter {
 public:
  CheckpointWriter(CheckpointStore& store, std::shared_ptr<dist::Communicator> world, bool async);
  ~CheckpointWriter();  // waits for a write in flight (its failure is dropped here)
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  bool async() const { return async_; }
  // Waits for the checkpoint in flight, then writes `snapshot` (synchronous: here; asynchronous:
  // its tensors are copied to host memory first, then written in the background). The tensors
  // may alias live training state. Returns the seconds the caller was held.
  double Save(RankSnapshot snapshot);
  // A checkpoint published since the last call, if any; rethrows a failed write.
  std::optional<FinishedCheckpoint> TakeFinished();
  // Blocks until no checkpoint is in flight; rethrows a failed write. Returns the seconds held.
  double Wait();

 private:
  void Snapshot(RankSnapshot& snapshot);
  void Run();
  void RethrowFailure();

  CheckpointStore& store_;
  std::shared_ptr<dist::Communicator> world_;
  const bool async_;
  std::map<std::string, at::Tensor> host_;  // reused snapshot buffers (asynchronous)

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<RankSnapshot> pending_;  // handed to the background thread
  bool busy_ = false, stop_ = false;
  double pending_blocking_s_ = 0;
  std::optional<FinishedCheckpoint> finished_;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace bagel::ckpt
