#include "tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace bagel::tokenizer {
namespace {

// What a lead byte promises: the sequence length and the range of its second byte (the later
// bytes are always 0x80..0xBF). Length 0 marks a byte that cannot start a sequence.
struct LeadByte {
  int length;
  uint8_t second_min;
  uint8_t second_max;
};

constexpr LeadByte DescribeLeadByte(uint8_t byte) {
  if (byte < 0x80) return {1, 0, 0};
  if (byte >= 0xC2 && byte <= 0xDF) return {2, 0x80, 0xBF};
  if (byte == 0xE0) return {3, 0xA0, 0xBF};
  if (byte == 0xED) return {3, 0x80, 0x9F};  // excludes the surrogates
  if (byte >= 0xE1 && byte <= 0xEF) return {3, 0x80, 0xBF};
  if (byte == 0xF0) return {4, 0x90, 0xBF};
  if (byte >= 0xF1 && byte <= 0xF3) return {4, 0x80, 0xBF};
  if (byte == 0xF4) return {4, 0x80, 0x8F};  // up to U+10FFFF
  return {0, 0, 0};
}

// How many bytes from `offset` form the longest prefix of a well-formed sequence (the whole
// sequence when it is well-formed); sets *complete accordingly.
int WellFormedPrefix(std::string_view text, size_t offset, bool* complete) {
  const auto lead = DescribeLeadByte(static_cast<uint8_t>(text[offset]));
  if (lead.length == 0) {
    *complete = false;
    return 0;
  }
  int consumed = 1;
  for (; consumed < lead.length; ++consumed) {
    if (offset + consumed >= text.size()) break;
    const auto byte = static_cast<uint8_t>(text[offset + consumed]);
    const uint8_t min = consumed == 1 ? lead.second_min : 0x80;
    const uint8_t max = consumed == 1 ? lead.second_max : 0xBF;
    if (byte < min || byte > max) break;
  }
  *complete = consumed == lead.length;
  return consumed;
}

char32_t AssembleCodePoint(std::string_view text, size_t offset, int length) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data() + offset);
  switch (length) {
    case 1:
      return bytes[0];
    case 2:
      return (char32_t{bytes[0] & 0x1Fu} << 6) | (bytes[1] & 0x3Fu);
    case 3:
      return (char32_t{bytes[0] & 0x0Fu} << 12) | (char32_t{bytes[1] & 0x3Fu} << 6) |
             (bytes[2] & 0x3Fu);
    default:
      return (char32_t{bytes[0] & 0x07u} << 18) | (char32_t{bytes[1] & 0x3Fu} << 12) |
             (char32_t{bytes[2] & 0x3Fu} << 6) | (bytes[3] & 0x3Fu);
  }
}

bool HasNonAsciiByte(const char* bytes) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return (word & 0x8080808080808080ull) != 0;
}

}  // namespace

std::optional<DecodedCodePoint> DecodeUtf8CodePoint(std::string_view text, size_t offset) {
  bool complete = false;
  const int length = WellFormedPrefix(text, offset, &complete);
  if (!complete) return std::nullopt;
  return DecodedCodePoint{AssembleCodePoint(text, offset, length), length};
}

size_t FindInvalidUtf8(std::string_view text) {
  size_t offset = 0;
  while (offset < text.size()) {
    if (offset + 8 <= text.size() && !HasNonAsciiByte(text.data() + offset)) {
      offset += 8;
      continue;
    }
    if (static_cast<uint8_t>(text[offset]) < 0x80) {
      ++offset;
      continue;
    }
    bool complete = false;
    const int length = WellFormedPrefix(text, offset, &complete);
    if (!complete) return offset;
    offset += length;
  }
  return std::string_view::npos;
}

void AppendUtf8(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string DecodeUtf8Lossy(std::string_view bytes) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string text;
  text.reserve(bytes.size());
  size_t offset = 0;
  while (offset < bytes.size()) {
    if (static_cast<uint8_t>(bytes[offset]) < 0x80) {
      text.push_back(bytes[offset++]);
      continue;
    }
    bool complete = false;
    const int length = WellFormedPrefix(bytes, offset, &complete);
    if (complete) {
      text.append(bytes.substr(offset, length));
      offset += length;
    } else {
      // A byte that cannot start a sequence is replaced alone; a truncated or broken sequence is
      // replaced as a whole up to (not including) the byte that broke it.
      text.append(kReplacement);
      offset += length == 0 ? 1 : length;
    }
  }
  return text;
}

}  // namespace bagel::tokenizer
