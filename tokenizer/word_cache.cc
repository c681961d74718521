#include "tokenizer/word_cache.h"

namespace bagel::tokenizer {

WordCache::WordCache(size_t capacity) : capacity_(capacity) {
  if (capacity_ > 0) words_.reserve(capacity_);
}

void WordCache::Insert(std::string_view word, std::span<const TokenId> ids) {
  if (capacity_ == 0 || word.size() > kMaxWordBytes) return;
  if (words_.size() >= capacity_) {
    words_.clear();
    ids_.clear();
  }
  auto [entry, inserted] = words_.try_emplace(std::string(word));
  if (!inserted) return;
  entry->second = Range{static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids.size())};
  ids_.insert(ids_.end(), ids.begin(), ids.end());
}

}  // namespace bagel::tokenizer
