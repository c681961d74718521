// Time as the control plane sees it: milliseconds since the Unix epoch, behind a small interface
// so leases, deadlines and scheduling can be tested without sleeping (ManualClock).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace bagel::service {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
};

// The wall clock.
class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t NowMs() const override { return now_.load(); }
  void AdvanceMsForTest(int64_t ms) { now_ += ms; }
  void SetMsForTest(int64_t ms) { now_ = ms; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace bagel::service
