// Random packed layouts for tests: samples made of splits with random lengths and modes.
#pragma once

#include <random>
#include <vector>

#include "model/attention/attention_layout.h"

namespace bagel::testing {

struct RandomLayout {
  std::vector<int64_t> sample_lens;
  std::vector<int64_t> split_lens;
  std::vector<AttnMode> modes;
  int64_t num_tokens = 0;
};

inline RandomLayout MakeRandomLayout(std::mt19937& rng, int max_samples = 4, int max_splits = 5,
                                     int max_split_len = 7) {
  RandomLayout l;
  std::uniform_int_distribution<int> samples(1, max_samples), splits(1, max_splits),
      len(1, max_split_len), mode(0, 2);
  const int n_samples = samples(rng);
  for (int s = 0; s < n_samples; ++s) {
    const int n_splits = splits(rng);
    int64_t total = 0;
    for (int j = 0; j < n_splits; ++j) {
      const int64_t n = len(rng);
      l.split_lens.push_back(n);
      l.modes.push_back(AttnModeFromCode(mode(rng)));
      total += n;
    }
    l.sample_lens.push_back(total);
    l.num_tokens += total;
  }
  return l;
}

// The rule of BAGEL.md §2.4, written out token by token over the whole packed sequence:
// [N, N] bool, true where query q may attend key k.
inline at::Tensor BruteForceMask(const RandomLayout& l) {
  std::vector<int64_t> sample, split;
  std::vector<AttnMode> mode;
  int64_t split_index = 0, sample_index = 0, in_sample = 0;
  for (size_t j = 0; j < l.split_lens.size(); ++j) {
    for (int64_t t = 0; t < l.split_lens[j]; ++t) {
      sample.push_back(sample_index);
      split.push_back(split_index);
      mode.push_back(l.modes[j]);
    }
    ++split_index;
    in_sample += l.split_lens[j];
    if (in_sample == l.sample_lens[sample_index]) {
      ++sample_index;
      in_sample = 0;
    }
  }
  const int64_t n = static_cast<int64_t>(sample.size());
  at::Tensor mask = at::zeros({n, n}, at::kBool);
  auto acc = mask.accessor<bool, 2>();
  for (int64_t q = 0; q < n; ++q) {
    for (int64_t k = 0; k < n; ++k) {
      const bool same_sample = sample[q] == sample[k];
      const bool same_bidir_split = split[q] == split[k] && mode[q] != AttnMode::kCausal;
      const bool foreign_noise = mode[k] == AttnMode::kNoise && split[q] != split[k];
      acc[q][k] = same_sample && (k <= q || same_bidir_split) && !foreign_noise;
    }
  }
  return mask;
}

// Random double-precision queries [n, heads, d] and keys/values [n, kv_heads, d].
struct RandomQkv {
  at::Tensor q, k, v;
  RandomQkv(int64_t n, int64_t heads, int64_t kv_heads, int64_t d, uint64_t seed) {
    at::manual_seed(seed);
    q = at::randn({n, heads, d}, at::kDouble);
    k = at::randn({n, kv_heads, d}, at::kDouble);
    v = at::randn({n, kv_heads, d}, at::kDouble);
  }
};

}  // namespace bagel::testing
