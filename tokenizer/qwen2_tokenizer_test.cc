#include "tokenizer/qwen2_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "testing/temp_dir.h"
#include "tokenizer/tokenizer_error.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/toy_tokenizer_for_test.h"

namespace bagel::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Ids = std::vector<TokenId>;

Qwen2Tokenizer ToyTokenizer(TokenizerOptions options = {}, bool with_added_tokens = true) {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path(), with_added_tokens);
  return Qwen2Tokenizer::FromDirectory(dir.path(), options);
}

TEST(Qwen2TokenizerTest, EncodesWithMerges) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  EXPECT_THAT(tokenizer.Encode("hello world"), ElementsAre(259, 264));
  EXPECT_THAT(tokenizer.Encode("hello"), ElementsAre(259));
  EXPECT_THAT(tokenizer.Encode("help"), ElementsAre(256, 'l', 'p'));
  EXPECT_TRUE(tokenizer.Encode("").empty());
}

TEST(Qwen2TokenizerTest, AddedTokensInRawTextBecomeSingleIds) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  EXPECT_THAT(tokenizer.Encode("<|im_start|>hello<|im_end|>"), ElementsAre(300, 259, 301));
  EXPECT_THAT(tokenizer.Encode("x<|vision_start|><|vision_end|> world"),
              ElementsAre('x', 302, 303, 264));
  // Not a token: encoded as ordinary text.
  EXPECT_THAT(tokenizer.Encode("<|im_star|>"),
              ElementsAre('<', '|', 'i', 'm', '_', 's', 't', 'a', 'r', '|', '>'));
  // Ignoring added tokens, their text is ordinary text too.
  EXPECT_GT(tokenizer.EncodeIgnoringAddedTokens("<|im_start|>").size(), 1u);
  EXPECT_EQ(tokenizer.Decode(tokenizer.EncodeIgnoringAddedTokens("<|im_start|>")), "<|im_start|>");
}

TEST(Qwen2TokenizerTest, EncodeIntoAppends) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  Ids ids = {7};
  tokenizer.EncodeInto("hello", &ids);
  tokenizer.EncodeInto(" world", &ids);
  EXPECT_THAT(ids, ElementsAre(7, 259, 264));
}

TEST(Qwen2TokenizerTest, NormalisesToNfcFirst) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  // e + combining acute is encoded as the precomposed é (bytes C3 A9).
  EXPECT_THAT(tokenizer.Encode("e\xCC\x81"), ElementsAre(0xC3, 0xA9));
  EXPECT_EQ(tokenizer.Decode(tokenizer.Encode("e\xCC\x81")), "\xC3\xA9");
}

TEST(Qwen2TokenizerTest, InvalidUtf8InputIsRejected) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  EXPECT_THROW(tokenizer.Encode("ok\xFF"), TokenizerError);
  // The tokenizer stays usable afterwards.
  EXPECT_THAT(tokenizer.Encode("hello"), ElementsAre(259));
}

TEST(Qwen2TokenizerTest, DecodesSpecialTokensAsTextAndBrokenBytesAsReplacement) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  EXPECT_EQ(tokenizer.Decode(Ids{300, 259, 301}), "<|im_start|>hello<|im_end|>");
  // 0xE4 0xB8 is a truncated 3-byte sequence; 0xFF is never valid: each becomes one U+FFFD.
  EXPECT_EQ(tokenizer.Decode(Ids{0xE4, 0xB8, 'a', 0xFF}),
            "\xEF\xBF\xBD"
            "a\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer.Decode(Ids{0xE4, 0xB8, 301}), "\xEF\xBF\xBD<|im_end|>");
  // Nothing is stripped or cleaned up.
  EXPECT_EQ(tokenizer.Decode(tokenizer.Encode("  hello \n ")), "  hello \n ");
  EXPECT_EQ(tokenizer.Decode(Ids{}), "");
}

TEST(Qwen2TokenizerTest, DecodingAnUnknownIdNamesIt) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  for (TokenId bad : {270, 304, -1}) {
    try {
      tokenizer.Decode(Ids{259, bad});
      FAIL() << bad;
    } catch (const TokenizerError& error) {
      EXPECT_THAT(error.what(), HasSubstr("token id " + std::to_string(bad) + " at position 1"));
    }
  }
}

TEST(Qwen2TokenizerTest, BagelSpecialTokensAreLookedUp) {
  const BagelSpecialTokenIds ids = ToyTokenizer().BagelSpecialTokens();
  EXPECT_EQ(ids.im_start, 300);
  EXPECT_EQ(ids.im_end, 301);
  EXPECT_EQ(ids.vision_start, 302);
  EXPECT_EQ(ids.vision_end, 303);
  const Qwen2Tokenizer without = ToyTokenizer({}, /*with_added_tokens=*/false);
  try {
    without.BagelSpecialTokens();
    FAIL();
  } catch (const TokenizerError& error) {
    EXPECT_THAT(error.what(), HasSubstr("no <|im_start|> token"));
  }
}

TEST(Qwen2TokenizerTest, CacheDoesNotChangeResults) {
  const std::vector<std::string> texts = {"hello world hello", " world world", "hellohello",
                                          "<|im_start|>hello", "help hello he ll"};
  const Qwen2Tokenizer uncached = ToyTokenizer({.word_cache_capacity = 0});
  const Qwen2Tokenizer tiny = ToyTokenizer({.word_cache_capacity = 2});
  const Qwen2Tokenizer cached = ToyTokenizer();
  for (int round = 0; round < 3; ++round) {
    for (const auto& text : texts) {
      EXPECT_EQ(tiny.Encode(text), uncached.Encode(text)) << text;
      EXPECT_EQ(cached.Encode(text), uncached.Encode(text)) << text;
    }
  }
}

TEST(Qwen2TokenizerTest, IgnoreMergesTakesWholeVocabularyWords) {
  bagel::testing::TempDir dir;
  nlohmann::json json = ToyTokenizerJsonForTest(false);
  json["model"]["ignore_merges"] = true;
  // "hl" is a token that the merges could never build.
  json["model"]["vocab"]["hl"] = 280;
  WriteFileForTest(dir.path() / "tokenizer.json", json.dump());
  const Qwen2Tokenizer tokenizer = Qwen2Tokenizer::FromDirectory(dir.path());
  EXPECT_THAT(tokenizer.Encode("hl"), ElementsAre(280));
  EXPECT_THAT(tokenizer.Encode("hello"), ElementsAre(259));
}

TEST(Qwen2TokenizerTest, EncodesConcurrently) {
  const Qwen2Tokenizer tokenizer = ToyTokenizer();
  const Ids want = tokenizer.Encode("<|im_start|>hello world hello<|im_end|>");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (tokenizer.Encode("<|im_start|>hello world hello<|im_end|>") != want) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

TEST(Qwen2TokenizerTest, MovedTokenizerKeepsWorking) {
  Qwen2Tokenizer first = ToyTokenizer();
  first.Encode("hello");  // leaves a pooled state behind
  Qwen2Tokenizer second = std::move(first);
  EXPECT_THAT(second.Encode("hello world"), ElementsAre(259, 264));
}

}  // namespace
}  // namespace bagel::tokenizer
