// A bounded multi-producer queue with a timed pop and a close, used to hand events from the
// control plane (under its lock) to the threads serving gRPC streams.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace bagel::service {

template <typename T>
class BlockingQueue {
 public:
  explicit BlockingQueue(size_t capacity = 4096) : capacity_(capacity) {}

  // Appends `v`; when full, drops the oldest entry (a slow reader loses history, never blocks the
  // producer) and counts it. False when closed.
  bool Push(T v) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      if (items_.size() >= capacity_) {
        items_.pop_front();
        ++dropped_;
      }
      items_.push_back(std::move(v));
    }
    cv_.notify_one();
    return true;
  }

  // Waits up to `timeout` for an entry; nullopt on timeout or when closed and empty.
  std::optional<T> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  size_t dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
  size_t dropped_ = 0;
};

}  // namespace bagel::service
