#include "worker/data/sharding/python_random.h"

#include <bit>

namespace bagel::data {
namespace {
constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu;
constexpr uint32_t kUpperMask = 0x80000000u;
constexpr uint32_t kLowerMask = 0x7fffffffu;
}  // namespace

void PythonRandom::InitGenrand(uint32_t s) {
  mt_[0] = s;
  for (int i = 1; i < kN; ++i) {
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  mti_ = kN;
}

void PythonRandom::Seed(uint64_t seed) {
  // CPython: the key is the absolute value's 32-bit words, least significant first ([0] for 0).
  std::vector<uint32_t> key;
  for (uint64_t v = seed; v != 0; v >>= 32) key.push_back(static_cast<uint32_t>(v));
  if (key.empty()) key.push_back(0);
  InitGenrand(19650218u);
  int i = 1;
  size_t j = 0;
  const int len = static_cast<int>(key.size());
  for (int k = kN > len ? kN : len; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] +
             static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] =
        (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  mti_ = kN;
}

uint32_t PythonRandom::Next32() {
  if (mti_ >= kN) {
    int kk = 0;
    auto mix = [](uint32_t a, uint32_t b) {
      const uint32_t y = (a & kUpperMask) | (b & kLowerMask);
      return (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
    };
    for (; kk < kN - kM; ++kk) mt_[kk] = mt_[kk + kM] ^ mix(mt_[kk], mt_[kk + 1]);
    for (; kk < kN - 1; ++kk) mt_[kk] = mt_[kk + (kM - kN)] ^ mix(mt_[kk], mt_[kk + 1]);
    mt_[kN - 1] = mt_[kM - 1] ^ mix(mt_[kN - 1], mt_[0]);
    mti_ = 0;
  }
  uint32_t y = mt_[mti_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

uint64_t PythonRandom::GetRandBits(int k) {
  if (k <= 32) return Next32() >> (32 - k);
  // Words least significant first; the last one keeps its top (k mod 32) bits.
  const uint64_t low = Next32();
  const uint64_t high = Next32() >> (64 - k);
  return low | (high << 32);
}

uint64_t PythonRandom::RandBelow(uint64_t n) {
  const int k = std::bit_width(n);
  uint64_t r = GetRandBits(k);
  while (r >= n) r = GetRandBits(k);
  return r;
}

}  // namespace bagel::data
