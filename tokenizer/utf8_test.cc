#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

namespace bagel::tokenizer {
namespace {

TEST(Utf8Test, DecodesEachSequenceLength) {
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";  // a é 中 😀
  auto a = DecodeUtf8CodePoint(text, 0);
  auto e = DecodeUtf8CodePoint(text, 1);
  auto zhong = DecodeUtf8CodePoint(text, 3);
  auto smile = DecodeUtf8CodePoint(text, 6);
  ASSERT_TRUE(a && e && zhong && smile);
  EXPECT_EQ(a->code_point, U'a');
  EXPECT_EQ(e->code_point, U'\u00E9');
  EXPECT_EQ(e->length, 2);
  EXPECT_EQ(zhong->code_point, U'\u4E2D');
  EXPECT_EQ(zhong->length, 3);
  EXPECT_EQ(smile->code_point, U'\U0001F600');
  EXPECT_EQ(smile->length, 4);
}

TEST(Utf8Test, RejectsIllFormedSequences) {
  for (std::string bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                          "\xF5\x80\x80\x80", "\x80", "\xE4\xB8", "\xFF"}) {
    EXPECT_FALSE(DecodeUtf8CodePoint(bad, 0)) << testing::PrintToString(bad);
  }
}

TEST(Utf8Test, FindsTheFirstInvalidOffset) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii text, longer than eight bytes"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("\xE4\xB8\xAD\xE6\x96\x87"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8(std::string("0123456789\xE4\xB8", 12)), 10u);
  EXPECT_EQ(FindInvalidUtf8("ab\xC0\xAF"), 2u);
  EXPECT_EQ(FindInvalidUtf8(std::string("a\0b", 3)), std::string_view::npos);
}

TEST(Utf8Test, AppendRoundTripsBoundaryCodePoints) {
  for (char32_t cp :
       {U'\0', U'\x7F', U'\x80', U'\u07FF', U'\u0800', U'\uFFFD', U'\U00010000', U'\U0010FFFF'}) {
    std::string text;
    AppendUtf8(cp, &text);
    auto decoded = DecodeUtf8CodePoint(text, 0);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->code_point, cp);
    EXPECT_EQ(static_cast<size_t>(decoded->length), text.size());
  }
}

// Expected strings are what Python 3's bytes.decode("utf-8", errors="replace") returns.
TEST(Utf8Test, LossyDecodingReplacesMaximalSubpartsLikePython) {
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xE0\x80", r + r},
      {"\xF0\x90\x80", r},
      {"\xF0\x90\x80"
       "A",
       r + "A"},
      {"\xC0\xAF", r + r},
      {"\xED\xA0\x80", r + r + r},
      {"\xFF", r},
      {"a\x80"
       "b",
       "a" + r + "b"},
      {"\xE4\xB8\xE4\xB8\xAD", r + "\xE4\xB8\xAD"},
      {"\xF4\x90\x80\x80", r + r + r + r},
      {"\xE1\x80"
       "A",
       r + "A"},
      {"\xF1\x80\x80\xE2\x82\xAC", r + "\xE2\x82\xAC"},
      {"valid \xC3\xA9", "valid \xC3\xA9"},
      {"", ""},
  };
  for (const auto& [bytes, want] : cases) {
    EXPECT_EQ(DecodeUtf8Lossy(bytes), want) << testing::PrintToString(bytes);
  }
}

}  // namespace
}  // namespace bagel::tokenizer
