#include "tokenizer/byte_level_alphabet.h"

#include <array>

#include "tokenizer/utf8.h"

namespace bagel::tokenizer {
namespace {

constexpr bool StandsForItself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char32_t, 256> MakeByteToCodePoint() {
  std::array<char32_t, 256> table{};
  char32_t next_shifted = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    table[byte] = StandsForItself(byte) ? static_cast<char32_t>(byte) : next_shifted++;
  }
  return table;
}

constexpr std::array<char32_t, 256> kByteToCodePoint = MakeByteToCodePoint();
// Every alphabet code point is below U+0144 (256 + 68).
constexpr char32_t kAlphabetEnd = 0x144;

constexpr std::array<int16_t, kAlphabetEnd> MakeCodePointToByte() {
  std::array<int16_t, kAlphabetEnd> table{};
  for (auto& entry : table) entry = -1;
  for (int byte = 0; byte < 256; ++byte) table[kByteToCodePoint[byte]] = static_cast<int16_t>(byte);
  return table;
}

constexpr std::array<int16_t, kAlphabetEnd> kCodePointToByte = MakeCodePointToByte();

}  // namespace

char32_t ByteToAlphabetCodePoint(uint8_t byte) { return kByteToCodePoint[byte]; }

std::optional<uint8_t> AlphabetCodePointToByte(char32_t code_point) {
  if (code_point >= kAlphabetEnd || kCodePointToByte[code_point] < 0) return std::nullopt;
  return static_cast<uint8_t>(kCodePointToByte[code_point]);
}

std::string BytesToAlphabetText(std::string_view bytes) {
  std::string text;
  text.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) AppendUtf8(kByteToCodePoint[byte], &text);
  return text;
}

std::optional<std::string> AlphabetTextToBytes(std::string_view alphabet_text) {
  std::string bytes;
  bytes.reserve(alphabet_text.size());
  size_t offset = 0;
  while (offset < alphabet_text.size()) {
    auto decoded = DecodeUtf8CodePoint(alphabet_text, offset);
    if (!decoded) return std::nullopt;
    auto byte = AlphabetCodePointToByte(decoded->code_point);
    if (!byte) return std::nullopt;
    bytes.push_back(static_cast<char>(*byte));
    offset += decoded->length;
  }
  return bytes;
}

}  // namespace bagel::tokenizer
