// Byte-level BPE on one pre-tokenized piece: starts from one token per byte and repeatedly merges
// the adjacent pair with the lowest merge rank (the leftmost such pair on a tie) until no adjacent
// pair has a rule -- the rule Qwen2's (and GPT-2's) tokenizer applies.
//
// Short pieces keep their pairs' ranks in an array and rescan it (cache-friendly, no heap); long
// ones (CJK runs, long identifiers) use a linked list and a min-heap of candidate pairs with lazy
// invalidation, O(n log n). Both give identical results.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/merge_table.h"
#include "tokenizer/token_id.h"

namespace bagel::tokenizer {

class BpeWordMerger {
 public:
  // Pieces up to this many bytes use the array scan.
  static constexpr size_t kDefaultShortWordLimit = 48;

  // `merges` and `byte_ids` (the id of each single-byte token) must outlive the merger.
  BpeWordMerger(const MergeTable& merges, const std::array<TokenId, 256>& byte_ids,
                size_t short_word_limit = kDefaultShortWordLimit);

  // Appends the token ids of `word` (raw bytes, non-empty) to *out. Reuses internal buffers, so a
  // merger serves one thread.
  void Encode(std::string_view word, std::vector<TokenId>* out);

 private:
  void EncodeShort(std::string_view word, std::vector<TokenId>* out);
  void EncodeLong(std::string_view word, std::vector<TokenId>* out);

  struct Candidate {
    int32_t rank;
    int32_t position;  // index of the pair's left symbol (original byte index)
    TokenId left;
    TokenId right;
    TokenId merged;
  };

  const MergeTable& merges_;
  const std::array<TokenId, 256>& byte_ids_;
  size_t short_word_limit_;
  // Scratch, reused across words.
  std::vector<TokenId> ids_;
  std::vector<int32_t> ranks_;
  std::vector<TokenId> merged_;
  std::vector<int32_t> next_;
  std::vector<int32_t> prev_;
  std::vector<Candidate> heap_;
};

}  // namespace bagel::tokenizer
