#include "tokenizer/added_token_matcher.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

std::vector<AddedTokenMatch> AllMatches(const AddedTokenMatcher& matcher, std::string_view text) {
  std::vector<AddedTokenMatch> matches;
  size_t from = 0;
  while (auto match = matcher.FindNext(text, from)) {
    matches.push_back(*match);
    from = match->begin + match->length;
  }
  return matches;
}

TEST(AddedTokenMatcherTest, FindsTokensAnywhere) {
  const AddedTokenMatcher matcher({{"<|im_start|>", 1}, {"<|im_end|>", 2}});
  const auto matches = AllMatches(matcher, "<|im_start|>user\nhi<|im_end|>x<|im_end|>");
  ASSERT_EQ(matches.size(), 3u);
  EXPECT_EQ(matches[0].begin, 0u);
  EXPECT_EQ(matches[0].id, 1);
  EXPECT_EQ(matches[1].begin, 19u);
  EXPECT_EQ(matches[1].length, 10u);
  EXPECT_EQ(matches[1].id, 2);
  EXPECT_EQ(matches[2].begin, 30u);
  EXPECT_TRUE(AllMatches(matcher, "not a special <|im_star|> token").empty());
  EXPECT_TRUE(AllMatches(matcher, "").empty());
}

TEST(AddedTokenMatcherTest, LeftmostThenLongest) {
  const AddedTokenMatcher matcher({{"ab", 1}, {"abc", 2}, {"bcd", 3}, {"<x>", 4}});
  // At offset 0 both "ab" and "abc" match: the longer wins, so "bcd" (offset 1) cannot.
  auto matches = AllMatches(matcher, "abcd");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].id, 2);
  // "bcd" starts left of any "ab" here.
  matches = AllMatches(matcher, "xbcdab<x>");
  ASSERT_EQ(matches.size(), 3u);
  EXPECT_EQ(matches[0].id, 3);
  EXPECT_EQ(matches[1].id, 1);
  EXPECT_EQ(matches[2].id, 4);
}

TEST(AddedTokenMatcherTest, RejectsEmptyContent) {
  EXPECT_THROW(AddedTokenMatcher({{"", 5}}), TokenizerError);
}

}  // namespace
}  // namespace bagel::tokenizer
