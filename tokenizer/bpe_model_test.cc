#include "tokenizer/bpe_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/temp_dir.h"
#include "tokenizer/tokenizer_error.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/toy_tokenizer_for_test.h"

namespace bagel::tokenizer {
namespace {

using ::testing::HasSubstr;

TokenizerDefinition ToyDefinition() {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path());
  return ReadTokenizerDirectory(dir.path());
}

std::string BuildError(const TokenizerDefinition& definition) {
  try {
    BpeModel model(definition);
  } catch (const TokenizerError& error) {
    return error.what();
  }
  return "";
}

TEST(BpeModelTest, IndexesTheToyVocabulary) {
  const BpeModel model(ToyDefinition());
  EXPECT_EQ(model.id_limit(), 304);
  EXPECT_EQ(model.byte_ids()['h'], 'h');
  EXPECT_EQ(model.TokenBytes(259), "hello");
  EXPECT_EQ(model.TokenBytes(264), " world");
  EXPECT_EQ(model.TokenBytes(300), "<|im_start|>");
  EXPECT_FALSE(model.TokenBytes(270));  // unused id
  EXPECT_FALSE(model.TokenBytes(-1));
  EXPECT_FALSE(model.TokenBytes(304));
  ASSERT_NE(model.merges().Find('h', 'e'), nullptr);
  EXPECT_EQ(model.merges().Find('h', 'e')->merged, 256);
  EXPECT_EQ(model.merges().Find('h', 'e')->rank, 0);
  EXPECT_EQ(model.merges().Find(256, 257)->rank, 2);
  EXPECT_EQ(model.FindToken("\xC4\xA0world"), 264);  // byte-level spelling
  EXPECT_EQ(model.FindToken("<|im_end|>"), 301);
  EXPECT_EQ(model.FindVocabBytes(" world"), 264);
  EXPECT_FALSE(model.FindToken(" world"));  // a raw space is not a spelling
  EXPECT_EQ(model.added_tokens().size(), 5u);
}

TEST(BpeModelTest, MergeOfUnknownTokenNamesTheLine) {
  TokenizerDefinition definition = ToyDefinition();
  definition.merges[2] = {"he", "zz"};
  EXPECT_THAT(BuildError(definition),
              AllOf(HasSubstr("merges.txt: line 4"), HasSubstr("\"zz\" is not in the vocabulary")));
  definition = ToyDefinition();
  definition.merges.push_back({"hello", "hello"});
  EXPECT_THAT(BuildError(definition),
              HasSubstr("the merged token \"hellohello\" is not in the vocabulary"));
}

TEST(BpeModelTest, VocabularyErrorsAreNamed) {
  TokenizerDefinition definition = ToyDefinition();
  definition.vocab.push_back({"dup", 259});
  EXPECT_THAT(BuildError(definition), HasSubstr("id 259 is given to both \"hello\" and \"dup\""));

  definition = ToyDefinition();
  definition.vocab.push_back({"a b", 280});
  EXPECT_THAT(BuildError(definition),
              HasSubstr("\"a b\" (id 280) is not spelled in the byte-level"));

  definition = ToyDefinition();
  std::erase_if(definition.vocab, [](const auto& entry) { return entry.second == 'q'; });
  EXPECT_THAT(BuildError(definition), HasSubstr("no token for the byte 0x71"));

  definition = ToyDefinition();
  definition.vocab.push_back({"zz", BpeModel::kMaxTokenId + 1});
  EXPECT_THAT(BuildError(definition), HasSubstr("outside 0.."));
}

TEST(BpeModelTest, AddedTokenConflictsAreNamed) {
  TokenizerDefinition definition = ToyDefinition();
  definition.added_tokens.push_back({"<|im_start|>", 305, true, "second.json: <|im_start|>"});
  EXPECT_THAT(BuildError(definition),
              AllOf(HasSubstr("second.json"), HasSubstr("disagrees with id 300")));

  definition = ToyDefinition();
  definition.added_tokens.push_back({"<|other|>", 259, true, "x.json: <|other|>"});
  EXPECT_THAT(BuildError(definition), HasSubstr("id 259 already belongs to the token \"hello\""));

  // The same token declared twice (added_tokens.json and tokenizer_config.json) is fine, and so
  // is an added token that is also in the vocabulary under the same id.
  definition = ToyDefinition();
  definition.added_tokens.push_back({"<|im_start|>", 300, true, "again"});
  definition.added_tokens.push_back({"hello", 259, true, "vocab twin"});
  const BpeModel model(definition);
  EXPECT_EQ(model.added_tokens().size(), 6u);
}

}  // namespace
}  // namespace bagel::tokenizer
