// CPython's random.Random, as far as the official data pipeline uses it to order its data:
// seed(int) (the Mersenne Twister seeded by init_by_array over the seed's 32-bit words),
// getrandbits(k), _randbelow(n) and shuffle(list). With it the shards are the files the
// official DistributedIterableDataset.set_epoch gives each rank (BAGEL.md §3.1): sorted, then
// random.Random(seed).shuffle(paths).
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace bagel::data {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed) { Seed(seed); }

  // random.seed(a) for a non-negative int a.
  void Seed(uint64_t seed);
  // random.getrandbits(k), 0 < k <= 64.
  uint64_t GetRandBits(int k);
  // random._randbelow(n), n > 0: uniform in [0, n).
  uint64_t RandBelow(uint64_t n);

  // random.shuffle(items).
  template <typename T>
  void Shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i-- > 1;) {
      const size_t j = static_cast<size_t>(RandBelow(i + 1));
      std::swap(items[i], items[j]);
    }
  }

 private:
  uint32_t Next32();
  void InitGenrand(uint32_t s);

  static constexpr int kN = 624;
  std::array<uint32_t, kN> mt_{};
  int mti_ = kN + 1;
};

}  // namespace bagel::data
