// A bounded cache from a pre-tokenized piece (raw bytes) to its BPE token ids: natural text
// repeats a small set of words, and a hit skips the whole merge loop. When it holds `capacity`
// words it is emptied and refills with what comes next (cheap, and it follows a change of corpus).
// Pieces longer than kMaxWordBytes are never cached. Not thread-safe: one per thread.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/token_id.h"

namespace bagel::tokenizer {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;

  // capacity 0 disables the cache (every lookup misses, nothing is stored).
  explicit WordCache(size_t capacity);

  // Appends the cached ids of `word` to *out and returns true, or returns false on a miss.
  bool AppendCached(std::string_view word, std::vector<TokenId>* out) const {
    if (words_.empty()) return false;
    auto found = words_.find(word);
    if (found == words_.end()) return false;
    const auto begin = ids_.begin() + found->second.offset;
    out->insert(out->end(), begin, begin + found->second.length);
    return true;
  }

  // Remembers the ids of `word` (ignored when disabled or the word is too long).
  void Insert(std::string_view word, std::span<const TokenId> ids);

  size_t size() const { return words_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  struct Range {
    uint32_t offset;
    uint32_t length;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };

  size_t capacity_;
  std::unordered_map<std::string, Range, Hash, std::equal_to<>> words_;
  std::vector<TokenId> ids_;  // every cached word's ids, back to back
};

}  // namespace bagel::tokenizer
