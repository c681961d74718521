#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

namespace bagel::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

// Expected pieces are what PyPI tokenizers' Split(Regex(Qwen2 pattern), "isolated") returns.
TEST(PreTokenizerTest, SplitsLikeQwen2) {
  const PreTokenizer pre_tokenizer;
  const std::vector<std::pair<std::string, Pieces>> cases = {
      {"Hello world", {"Hello", " world"}},
      {"I'LL DON'T we've", {"I", "'LL", " DON", "'T", " we", "'ve"}},
      {"  leading spaces", {" ", " leading", " spaces"}},
      {"trailing spaces   ", {"trailing", " spaces", "   "}},
      {"tabs\tand\nnewlines\r\nmixed\n\n\n",
       {"tabs", "\tand", "\n", "newlines", "\r\n", "mixed", "\n\n\n"}},
      {"1234 3.14", {"1", "2", "3", "4", " ", "3", ".", "1", "4"}},
      {"x  \n  y", {"x", "  \n", " ", " y"}},
      {"\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81",  // 你好，世界！
       {"\xE4\xBD\xA0\xE5\xA5\xBD", "\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C", "\xEF\xBC\x81"}},
      {"$$$ 100%", {"$$$", " ", "1", "0", "0", "%"}},
      {"a\xC2\xA0"
       "b\xE2\x80\x83 c",
       {"a",
        "\xC2\xA0"
        "b",
        "\xE2\x80\x83", " c"}},
      {"snake_case_names", {"snake", "_case", "_names"}},
      {"it'\xC5\xBF", {"it", "'\xC5\xBF"}},  // 'ſ is 's case-insensitively
      {"'s 'S", {"'s", " '", "S"}},
      {"...!!!\n\nx", {"...!!!\n\n", "x"}},
      {" ?!\r\nz", {" ?!\r\n", "z"}},
      {"a\xC2\x85\xC2\x85 b", {"a", "\xC2\x85\xC2\x85", " b"}},  // NEL is not \s
      {"", {}},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(pre_tokenizer.Split(text), want) << testing::PrintToString(text);
  }
}

TEST(PreTokenizerTest, SplitterIsReusable) {
  const PreTokenizer pre_tokenizer;
  PreTokenizer::Splitter splitter(pre_tokenizer);
  for (int round = 0; round < 3; ++round) {
    splitter.Reset("one two");
    std::string_view piece;
    Pieces pieces;
    while (splitter.Next(&piece)) pieces.emplace_back(piece);
    EXPECT_EQ(pieces, (Pieces{"one", " two"}));
  }
}

// Long runs exercise the backtracking of \s+(?!\S) (JIT stack) and the greedy classes.
TEST(PreTokenizerTest, LongRunsStayWhole) {
  const PreTokenizer pre_tokenizer;
  const std::string spaces(1 << 20, ' ');
  EXPECT_EQ(pre_tokenizer.Split(spaces + "x"), (Pieces{spaces.substr(1), " x"}));
  const std::string letters(1 << 20, 'q');
  EXPECT_EQ(pre_tokenizer.Split(letters), Pieces{letters});
  const std::string newlines(100000, '\n');
  EXPECT_EQ(pre_tokenizer.Split("a" + newlines), (Pieces{"a", newlines}));
}

}  // namespace
}  // namespace bagel::tokenizer
