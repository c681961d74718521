#include "tokenizer/merge_table.h"

#include <algorithm>
#include <bit>

namespace bagel::tokenizer {
namespace {

// Keep the table at most half full: short probe sequences on every lookup.
size_t CapacityFor(size_t rules) { return std::bit_ceil(std::max<size_t>(16, rules * 2)); }

}  // namespace

MergeTable::MergeTable(size_t expected_rules) { Rehash(CapacityFor(expected_rules)); }

void MergeTable::Rehash(size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{kEmpty, MergeRule{0, 0}});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
  size_ = 0;
  for (const Slot& entry : old) {
    if (entry.key != kEmpty) {
      Insert(static_cast<TokenId>(entry.key >> 32), static_cast<TokenId>(entry.key & 0xFFFFFFFFu),
             entry.rule);
    }
  }
}

void MergeTable::Insert(TokenId left, TokenId right, MergeRule rule) {
  if ((size_ + 1) * 2 > slots_.size()) Rehash(slots_.size() * 2);
  const uint64_t key = Key(left, right);
  for (size_t slot = Hash(key) & mask_;; slot = (slot + 1) & mask_) {
    Slot& entry = slots_[slot];
    if (entry.key == key) {
      entry.rule = rule;
      return;
    }
    if (entry.key == kEmpty) {
      entry = Slot{key, rule};
      ++size_;
      return;
    }
  }
}

}  // namespace bagel::tokenizer
