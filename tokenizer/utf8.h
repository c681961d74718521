// Strict UTF-8 reading and writing, and the lossy decoding that turns arbitrary bytes into text
// exactly as Python's bytes.decode("utf-8", errors="replace") does: every maximal ill-formed
// subsequence (Unicode's "maximal subpart" rule) becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bagel::tokenizer {

struct DecodedCodePoint {
  char32_t code_point;
  int length;  // bytes, 1..4
};

// The code point starting at `offset` (< text.size()), or nullopt when the bytes there are not
// well-formed UTF-8 (overlong forms, surrogates and values above U+10FFFF are ill-formed).
std::optional<DecodedCodePoint> DecodeUtf8CodePoint(std::string_view text, size_t offset);

// The offset of the first ill-formed byte sequence, or std::string_view::npos when `text` is
// well-formed UTF-8.
size_t FindInvalidUtf8(std::string_view text);

// Appends the UTF-8 encoding of `code_point` (must be a Unicode scalar value) to `out`.
void AppendUtf8(char32_t code_point, std::string* out);

// `bytes` as valid UTF-8, each maximal ill-formed subsequence replaced by U+FFFD.
std::string DecodeUtf8Lossy(std::string_view bytes);

}  // namespace bagel::tokenizer
