#include "tokenizer/word_cache.h"

#include <gtest/gtest.h>

namespace bagel::tokenizer {
namespace {

TEST(WordCacheTest, MissThenHit) {
  WordCache cache(8);
  std::vector<TokenId> out = {99};
  EXPECT_FALSE(cache.AppendCached("hello", &out));
  const std::vector<TokenId> ids = {1, 2, 3};
  cache.Insert("hello", ids);
  EXPECT_TRUE(cache.AppendCached("hello", &out));
  EXPECT_EQ(out, (std::vector<TokenId>{99, 1, 2, 3}));
  EXPECT_FALSE(cache.AppendCached("hell", &out));
}

TEST(WordCacheTest, EmptiesWhenFull) {
  WordCache cache(2);
  const std::vector<TokenId> ids = {7};
  cache.Insert("a", ids);
  cache.Insert("b", ids);
  EXPECT_EQ(cache.size(), 2u);
  cache.Insert("c", ids);  // full: starts over
  EXPECT_EQ(cache.size(), 1u);
  std::vector<TokenId> out;
  EXPECT_FALSE(cache.AppendCached("a", &out));
  EXPECT_TRUE(cache.AppendCached("c", &out));
  EXPECT_EQ(out, ids);
}

TEST(WordCacheTest, DisabledAndOverlongWordsAreNotStored) {
  WordCache disabled(0);
  const std::vector<TokenId> ids = {1};
  disabled.Insert("a", ids);
  std::vector<TokenId> out;
  EXPECT_FALSE(disabled.AppendCached("a", &out));

  WordCache cache(4);
  const std::string long_word(WordCache::kMaxWordBytes + 1, 'x');
  cache.Insert(long_word, ids);
  EXPECT_FALSE(cache.AppendCached(long_word, &out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace bagel::tokenizer
