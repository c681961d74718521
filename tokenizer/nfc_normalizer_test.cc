#include "tokenizer/nfc_normalizer.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <random>

#include "tokenizer/tokenizer_error.h"
#include "tokenizer/utf8.h"

namespace bagel::tokenizer {
namespace {

// utf8proc's NFC of the whole text, the reference the fast path must agree with.
std::string ReferenceNfc(const std::string& text) {
  utf8proc_uint8_t* out = nullptr;
  const auto length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  EXPECT_GE(length, 0);
  std::string result(reinterpret_cast<char*>(out), static_cast<size_t>(length));
  std::free(out);
  return result;
}

std::string Utf8(char32_t cp) {
  std::string text;
  AppendUtf8(cp, &text);
  return text;
}

TEST(NfcNormalizerTest, AlreadyNormalTextIsReturnedWithoutCopying) {
  std::string storage;
  for (std::string text : {"plain ASCII", "\xC3\xA9t\xC3\xA9", "\xE4\xBD\xA0\xE5\xA5\xBD",
                           "\xEA\xB0\x81", "\xD0\x9F\xD1\x80\xD0\xB8"}) {
    const std::string_view normalized = NormalizeNfc(text, &storage);
    EXPECT_EQ(normalized.data(), text.data()) << text;
  }
}

TEST(NfcNormalizerTest, ComposesAndReorders) {
  std::string storage;
  EXPECT_EQ(NormalizeNfc("e\xCC\x81", &storage), "\xC3\xA9");  // e + U+0301 -> é
  // Hangul LV syllable + trailing jamo -> LVT syllable: 가 + ᆨ -> 각
  EXPECT_EQ(NormalizeNfc("\xEA\xB0\x80\xE1\x86\xA8", &storage), "\xEA\xB0\x81");
  // Å (U+212B ANGSTROM SIGN) -> Å U+00C5
  EXPECT_EQ(NormalizeNfc("\xE2\x84\xAB", &storage), "\xC3\x85");
  // a + dot below (220) after acute (230) is reordered, then composed: á + U+0323 -> ạ + U+0301
  EXPECT_EQ(NormalizeNfc("a\xCC\x81\xCC\xA3", &storage), ReferenceNfc("a\xCC\x81\xCC\xA3"));
  // '>' + U+0338 composes to ≯ even right after a special token's text.
  EXPECT_EQ(NormalizeNfc("<|im_end|>\xCC\xB8", &storage), "<|im_end|\xE2\x89\xAF");
}

TEST(NfcNormalizerTest, InvalidUtf8NamesTheOffset) {
  std::string storage;
  try {
    NormalizeNfc("abc\xC3(", &storage);
    FAIL() << "accepted invalid UTF-8";
  } catch (const TokenizerError& error) {
    EXPECT_NE(std::string(error.what()).find("offset 3"), std::string::npos) << error.what();
  }
}

TEST(NfcNormalizerTest, EveryInertCodePointIsItsOwnNfc) {
  size_t inert = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (!IsNfcInert(cp)) continue;
    ++inert;
    const std::string text = Utf8(cp);
    ASSERT_EQ(ReferenceNfc(text), text) << "U+" << std::hex << static_cast<uint32_t>(cp);
  }
  EXPECT_GT(inert, 1000000u);        // nearly the whole code space
  EXPECT_FALSE(IsNfcInert(0x0301));  // combining acute
  EXPECT_FALSE(IsNfcInert(0x11A8));  // Hangul trailing jamo
  EXPECT_FALSE(IsNfcInert(0x212B));  // Angstrom sign (singleton decomposition)
  EXPECT_FALSE(IsNfcInert(0xD800));  // surrogate
  EXPECT_TRUE(IsNfcInert(0x00E9));   // é, precomposed
  EXPECT_TRUE(IsNfcInert(0xAC00));   // 가
}

// Random strings mixing inert characters with marks, jamo and decomposable characters: the
// result always equals utf8proc's NFC of the whole text.
TEST(NfcNormalizerTest, AgreesWithUtf8procOnRandomText) {
  const std::vector<char32_t> alphabet = {
      U'a',      U'e',      U'>',      U' ',      U'\u00E9', U'\u0301',     U'\u0323', U'\u0338',
      U'\u1100', U'\u1161', U'\u11A8', U'\uAC00', U'\u212B', U'\u4E2D',     U'\u0F73', U'\u0CC6',
      U'\u0CC2', U'\u0B47', U'\u0B3E', U'\u3099', U'\u304B', U'\U0001D15E', U'\u05B8', U'\u0591'};
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 12);
  std::string storage;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string text;
    for (int n = length(rng); n > 0; --n) AppendUtf8(alphabet[pick(rng)], &text);
    ASSERT_EQ(std::string(NormalizeNfc(text, &storage)), ReferenceNfc(text))
        << testing::PrintToString(text);
  }
}

}  // namespace
}  // namespace bagel::tokenizer
