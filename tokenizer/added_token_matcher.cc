#include "tokenizer/added_token_matcher.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {

AddedTokenMatcher::AddedTokenMatcher(std::vector<Token> tokens) : tokens_(std::move(tokens)) {
  for (const Token& token : tokens_) {
    if (token.content.empty()) {
      throw TokenizerError("added token " + std::to_string(token.id) + " has empty content");
    }
  }
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const Token& a, const Token& b) {
    const auto first_a = static_cast<uint8_t>(a.content[0]);
    const auto first_b = static_cast<uint8_t>(b.content[0]);
    if (first_a != first_b) return first_a < first_b;
    return a.content.size() > b.content.size();
  });
  size_t index = 0;
  for (int byte = 0; byte < 256; ++byte) {
    group_begin_[byte] = static_cast<uint32_t>(index);
    while (index < tokens_.size() && static_cast<uint8_t>(tokens_[index].content[0]) == byte) {
      ++index;
    }
  }
  group_begin_[256] = static_cast<uint32_t>(tokens_.size());
  if (!tokens_.empty() && tokens_.front().content[0] == tokens_.back().content[0]) {
    single_first_byte_ = static_cast<uint8_t>(tokens_.front().content[0]);
  }
}

std::optional<AddedTokenMatch> AddedTokenMatcher::FindNext(std::string_view text,
                                                           size_t from) const {
  if (tokens_.empty()) return std::nullopt;
  for (size_t position = from; position < text.size(); ++position) {
    if (single_first_byte_ >= 0) {
      const void* found =
          std::memchr(text.data() + position, single_first_byte_, text.size() - position);
      if (found == nullptr) return std::nullopt;
      position = static_cast<const char*>(found) - text.data();
    }
    const auto byte = static_cast<uint8_t>(text[position]);
    const std::string_view rest = text.substr(position);
    for (uint32_t i = group_begin_[byte]; i < group_begin_[byte + 1]; ++i) {
      const Token& token = tokens_[i];
      if (rest.starts_with(token.content)) {
        return AddedTokenMatch{position, token.content.size(), token.id};
      }
    }
  }
  return std::nullopt;
}

}  // namespace bagel::tokenizer
