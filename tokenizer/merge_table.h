// The BPE merge rules as a lookup from a pair of adjacent token ids to the merge's rank (its
// position in merges.txt; lower merges first) and the id of the merged token. An open-addressing
// hash table with linear probing: the lookup is the innermost operation of BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tokenizer/token_id.h"

namespace bagel::tokenizer {

struct MergeRule {
  int32_t rank;
  TokenId merged;
};

class MergeTable {
 public:
  // Sized for `expected_rules` insertions (it grows if more come).
  explicit MergeTable(size_t expected_rules = 0);

  // Adds or replaces the rule for (left, right); ids must be non-negative. Replacing matches the
  // reference tokenizers, where a repeated merges.txt line takes the later rank.
  void Insert(TokenId left, TokenId right, MergeRule rule);

  // The rule for (left, right), or nullptr when the pair never merges.
  const MergeRule* Find(TokenId left, TokenId right) const {
    const uint64_t key = Key(left, right);
    for (size_t slot = Hash(key) & mask_;; slot = (slot + 1) & mask_) {
      const Slot& entry = slots_[slot];
      if (entry.key == key) return &entry.rule;
      if (entry.key == kEmpty) return nullptr;
    }
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    MergeRule rule;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  static uint64_t Key(TokenId left, TokenId right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  size_t Hash(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void Rehash(size_t capacity);

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

}  // namespace bagel::tokenizer
