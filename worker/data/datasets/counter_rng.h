// A counter-based random generator (SplitMix64) whose whole state is one integer, so the data
// pipeline's randomness -- group choice, CFG dropout, timesteps, caption and edit choices -- is
// checkpointed as a number and restored exactly. Streams for different purposes are derived by
// hashing their identifiers into the starting counter (Mix).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace bagel::data {

class CounterRng {
 public:
  explicit CounterRng(uint64_t state = 0) : state_(state) {}

  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

  uint64_t NextU64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0 (rejection sampling, unbiased).
  uint64_t Below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x = NextU64();
    while (x >= limit) x = NextU64();
    return x % n;
  }
  // Standard normal (Box-Muller, one value per call).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

  // A well-mixed 64-bit value of several identifiers.
  static uint64_t Mix(std::initializer_list<uint64_t> values) {
    CounterRng r(0x6a09e667f3bcc909ull);
    uint64_t h = 0;
    for (uint64_t v : values) {
      r.set_state(r.state() ^ v ^ h);
      h = r.NextU64();
    }
    return h;
  }

 private:
  uint64_t state_;
};

}  // namespace bagel::data
