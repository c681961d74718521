// Finds added (special) tokens such as "<|im_start|>" inside raw text, as Qwen2's tokenizer does
// before any other step: anywhere in the text, leftmost match first, and at one position the
// longest token. The text between matches is then pre-tokenized and BPE-encoded.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/token_id.h"

namespace bagel::tokenizer {

struct AddedTokenMatch {
  size_t begin;   // byte offset in the text
  size_t length;  // bytes
  TokenId id;
};

class AddedTokenMatcher {
 public:
  struct Token {
    std::string content;  // non-empty
    TokenId id;
  };

  // Throws TokenizerError when a token's content is empty.
  explicit AddedTokenMatcher(std::vector<Token> tokens);

  // The leftmost-longest match starting at or after `from`, or nullopt when none remains.
  std::optional<AddedTokenMatch> FindNext(std::string_view text, size_t from) const;

  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<Token> tokens_;  // grouped by first byte, longest first within a group
  // tokens_[group_begin_[b] .. group_begin_[b + 1]) start with byte b.
  std::array<uint32_t, 257> group_begin_{};
  // The only first byte of all tokens, or -1 when they start with different bytes (then the
  // scan cannot use memchr).
  int single_first_byte_ = -1;
};

}  // namespace bagel::tokenizer
