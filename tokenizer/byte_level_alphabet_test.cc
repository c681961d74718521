#include "tokenizer/byte_level_alphabet.h"

#include <gtest/gtest.h>

#include <set>

namespace bagel::tokenizer {
namespace {

TEST(ByteLevelAlphabetTest, KnownSpellings) {
  EXPECT_EQ(ByteToAlphabetCodePoint(' '), U'\u0120');   // Ġ
  EXPECT_EQ(ByteToAlphabetCodePoint('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(ByteToAlphabetCodePoint('\t'), U'\u0109');  // ĉ
  EXPECT_EQ(ByteToAlphabetCodePoint(0), U'\u0100');
  EXPECT_EQ(ByteToAlphabetCodePoint('!'), U'!');
  EXPECT_EQ(ByteToAlphabetCodePoint(0xAD), U'\u0143');  // the last shifted byte
  EXPECT_EQ(ByteToAlphabetCodePoint(0xE9), U'\u00E9');
}

TEST(ByteLevelAlphabetTest, IsABijection) {
  std::set<char32_t> seen;
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t cp = ByteToAlphabetCodePoint(static_cast<uint8_t>(byte));
    EXPECT_TRUE(seen.insert(cp).second);
    EXPECT_EQ(AlphabetCodePointToByte(cp), byte);
  }
  EXPECT_FALSE(AlphabetCodePointToByte(U' '));
  EXPECT_FALSE(AlphabetCodePointToByte(U'\u0144'));
  EXPECT_FALSE(AlphabetCodePointToByte(U'\u4E2D'));
}

TEST(ByteLevelAlphabetTest, TextRoundTrips) {
  std::string all_bytes;
  for (int byte = 0; byte < 256; ++byte) all_bytes.push_back(static_cast<char>(byte));
  EXPECT_EQ(AlphabetTextToBytes(BytesToAlphabetText(all_bytes)), all_bytes);
  EXPECT_EQ(BytesToAlphabetText(" the"), "\xC4\xA0the");  // "Ġthe"
  EXPECT_EQ(AlphabetTextToBytes("\xC4\xA0the"), " the");
  EXPECT_FALSE(AlphabetTextToBytes("a b"));           // a raw space is not in the alphabet
  EXPECT_FALSE(AlphabetTextToBytes("\xE4\xB8\xAD"));  // 中
  EXPECT_FALSE(AlphabetTextToBytes("\xC4"));          // broken UTF-8
}

}  // namespace
}  // namespace bagel::tokenizer
