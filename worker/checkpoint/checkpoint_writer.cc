#include "worker/checkpoint/checkpoint_writer.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>

#include <chrono>

namespace bagel::ckpt {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

CheckpointWriter::CheckpointWriter(CheckpointStore& store,
                                   std::shared_ptr<dist::Communicator> world, bool async)
    : store_(store), world_(std::move(world)), async_(async) {
  if (async_) thread_ = std::thread([this] { Run(); });
}

CheckpointWriter::~CheckpointWriter() {
  if (!async_) return;
  std::unique_lock<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
  // Normally Wait() came first. On an error path a write may be waiting for a rank that died:
  // give it a while, then leave it to the ending process rather than hang the exit.
  const bool idle =
      cv_.wait_for(lock, std::chrono::seconds(60), [&] { return !busy_ && !pending_; });
  lock.unlock();
  if (idle) {
    thread_.join();
  } else {
    thread_.detach();
  }
}

double CheckpointWriter::Save(RankSnapshot snapshot) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!async_) {
    FinishedCheckpoint done;
    done.step = snapshot.step;
    done.result = store_.WriteRank(*world_, snapshot);
    done.blocking_s = SecondsSince(t0);
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = done;
    return done.blocking_s;
  }
  Wait();
  Snapshot(snapshot);
  const double blocking = SecondsSince(t0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(snapshot);
    pending_blocking_s_ = blocking;
    busy_ = true;
  }
  cv_.notify_all();
  return blocking;
}

void CheckpointWriter::Snapshot(RankSnapshot& snapshot) {
  at::NoGradGuard no_grad;
  bool device_copies = false;
  for (auto& [name, t] : snapshot.tensors) {
    at::Tensor& host = host_[name];
    const bool reuse =
        host.defined() && host.sizes() == t.sizes() && host.scalar_type() == t.scalar_type();
    if (!reuse) {
      // Pinned beside a GPU, so the copy is a DMA the training stream does not wait behind.
      host = at::empty(t.sizes(), t.options().device(at::kCPU).pinned_memory(t.is_cuda()));
    }
    host.copy_(t, /*non_blocking=*/t.is_cuda());
    device_copies |= t.is_cuda();
    t = host;
  }
  // The copies must be complete before the next optimizer step writes the state they read.
  if (device_copies) at::detail::getCUDAHooks().deviceSynchronize(world_->device().index());
  // Buffers of tensors no longer saved are released.
  for (auto it = host_.begin(); it != host_.end();) {
    it = snapshot.tensors.count(it->first) ? std::next(it) : host_.erase(it);
  }
}

void CheckpointWriter::Run() {
  while (true) {
    RankSnapshot snapshot;
    double blocking = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || pending_.has_value(); });
      if (!pending_) return;
      snapshot = std::move(*pending_);
      pending_.reset();
      blocking = pending_blocking_s_;
    }
    FinishedCheckpoint done;
    done.step = snapshot.step;
    done.blocking_s = blocking;
    std::exception_ptr failure;
    try {
      done.result = store_.WriteRank(*world_, snapshot);
    } catch (...) {
      failure = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failure) {
        failure_ = failure;
      } else {
        finished_ = done;
      }
      busy_ = false;
    }
    cv_.notify_all();
  }
}

void CheckpointWriter::RethrowFailure() {
  if (!failure_) return;
  std::exception_ptr f = failure_;
  failure_ = nullptr;
  std::rethrow_exception(f);
}

std::optional<FinishedCheckpoint> CheckpointWriter::TakeFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  RethrowFailure();
  std::optional<FinishedCheckpoint> out = std::move(finished_);
  finished_.reset();
  return out;
}

double CheckpointWriter::Wait() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
  RethrowFailure();
  return SecondsSince(t0);
}

}  // namespace bagel::ckpt
