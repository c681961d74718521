#include "tokenizer/bpe_word_merger.h"

#include <algorithm>
#include <limits>

namespace bagel::tokenizer {
namespace {

constexpr int32_t kNoRule = std::numeric_limits<int32_t>::max();

// Min-heap order on (rank, position): std::push_heap keeps the largest first under this.
bool LaterCandidate(int32_t rank_a, int32_t position_a, int32_t rank_b, int32_t position_b) {
  return rank_a != rank_b ? rank_a > rank_b : position_a > position_b;
}

}  // namespace

BpeWordMerger::BpeWordMerger(const MergeTable& merges, const std::array<TokenId, 256>& byte_ids,
                             size_t short_word_limit)
    : merges_(merges), byte_ids_(byte_ids), short_word_limit_(short_word_limit) {}

void BpeWordMerger::Encode(std::string_view word, std::vector<TokenId>* out) {
  if (word.size() == 1) {
    out->push_back(byte_ids_[static_cast<uint8_t>(word[0])]);
  } else if (word.size() <= short_word_limit_) {
    EncodeShort(word, out);
  } else {
    EncodeLong(word, out);
  }
}

void BpeWordMerger::EncodeShort(std::string_view word, std::vector<TokenId>* out) {
  size_t count = word.size();
  ids_.resize(count);
  ranks_.resize(count);
  merged_.resize(count);
  for (size_t i = 0; i < count; ++i) ids_[i] = byte_ids_[static_cast<uint8_t>(word[i])];
  // ranks_[i] / merged_[i]: the rule for the pair (ids_[i], ids_[i + 1]).
  auto rate_pair = [&](size_t i) {
    const MergeRule* rule = merges_.Find(ids_[i], ids_[i + 1]);
    ranks_[i] = rule != nullptr ? rule->rank : kNoRule;
    merged_[i] = rule != nullptr ? rule->merged : 0;
  };
  for (size_t i = 0; i + 1 < count; ++i) rate_pair(i);

  while (count > 1) {
    size_t best = 0;
    int32_t best_rank = ranks_[0];
    for (size_t i = 1; i + 1 < count; ++i) {
      if (ranks_[i] < best_rank) {
        best_rank = ranks_[i];
        best = i;
      }
    }
    if (best_rank == kNoRule) break;
    ids_[best] = merged_[best];
    // Drop symbol best + 1 and the pair that started at it.
    std::copy(ids_.begin() + best + 2, ids_.begin() + count, ids_.begin() + best + 1);
    if (best + 2 < count) {  // a pair starts at best + 1
      std::copy(ranks_.begin() + best + 2, ranks_.begin() + count - 1, ranks_.begin() + best + 1);
      std::copy(merged_.begin() + best + 2, merged_.begin() + count - 1,
                merged_.begin() + best + 1);
    }
    --count;
    if (best > 0) rate_pair(best - 1);
    if (best + 1 < count) rate_pair(best);
  }
  out->insert(out->end(), ids_.begin(), ids_.begin() + count);
}

void BpeWordMerger::EncodeLong(std::string_view word, std::vector<TokenId>* out) {
  const auto count = static_cast<int32_t>(word.size());
  ids_.resize(count);
  next_.resize(count);
  prev_.resize(count);
  for (int32_t i = 0; i < count; ++i) {
    ids_[i] = byte_ids_[static_cast<uint8_t>(word[i])];
    prev_[i] = i - 1;
    next_[i] = i + 1 < count ? i + 1 : -1;
  }
  heap_.clear();
  auto heap_order = [](const Candidate& a, const Candidate& b) {
    return LaterCandidate(a.rank, a.position, b.rank, b.position);
  };
  auto push_pair = [&](int32_t left_position) {
    const int32_t right_position = next_[left_position];
    const MergeRule* rule = merges_.Find(ids_[left_position], ids_[right_position]);
    if (rule == nullptr) return;
    heap_.push_back(
        {rule->rank, left_position, ids_[left_position], ids_[right_position], rule->merged});
    std::push_heap(heap_.begin(), heap_.end(), heap_order);
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_pair(i);

  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), heap_order);
    const Candidate top = heap_.back();
    heap_.pop_back();
    // A candidate is stale once either of its symbols took part in another merge: merging only
    // lengthens symbols, so a changed pair never comes back with the same two ids. Removed
    // symbols are marked by id -1.
    const int32_t right_position = next_[top.position];
    if (ids_[top.position] != top.left || right_position < 0 || ids_[right_position] != top.right) {
      continue;
    }
    ids_[top.position] = top.merged;
    ids_[right_position] = -1;
    next_[top.position] = next_[right_position];
    if (next_[top.position] >= 0) prev_[next_[top.position]] = top.position;
    if (prev_[top.position] >= 0) push_pair(prev_[top.position]);
    if (next_[top.position] >= 0) push_pair(top.position);
  }
  for (int32_t i = 0; i >= 0; i = next_[i]) out->push_back(ids_[i]);
}

}  // namespace bagel::tokenizer
