#include "tokenizer/tokenizer_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/temp_dir.h"
#include "tokenizer/tokenizer_error.h"
#include "tokenizer/toy_tokenizer_for_test.h"

namespace bagel::tokenizer {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The message of the TokenizerError `read` throws ("" when it does not throw).
template <typename Read>
std::string ErrorOf(Read read) {
  try {
    read();
  } catch (const TokenizerError& error) {
    return error.what();
  }
  return "";
}

TEST(TokenizerFilesTest, ReadsVocabMergesAndAddedTokens) {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path());
  const TokenizerDefinition definition = ReadTokenizerDirectory(dir.path());
  EXPECT_EQ(definition.vocab.size(), 256u + ToyMergesForTest().size());
  EXPECT_EQ(definition.merges, ToyMergesForTest());
  ASSERT_EQ(definition.added_tokens.size(), 5u);
  EXPECT_FALSE(definition.ignore_merges);
  // The first merge is on line 2, after "#version".
  EXPECT_EQ(definition.merge_origin.Describe(0), (dir.path() / "merges.txt").string() + ": line 2");
}

TEST(TokenizerFilesTest, ReadsTokenizerJsonWithEitherMergeForm) {
  for (bool pair_merges : {false, true}) {
    bagel::testing::TempDir dir;
    WriteFileForTest(dir.path() / "tokenizer.json", ToyTokenizerJsonForTest(pair_merges).dump());
    const TokenizerDefinition definition = ReadTokenizerDirectory(dir.path());
    EXPECT_EQ(definition.merges, ToyMergesForTest());
    EXPECT_EQ(definition.vocab.size(), 256u + ToyMergesForTest().size());
    ASSERT_EQ(definition.added_tokens.size(), 5u);
    EXPECT_EQ(definition.added_tokens[1].content, "<|im_start|>");
    EXPECT_EQ(definition.added_tokens[1].id, 300);
    EXPECT_TRUE(definition.added_tokens[1].special);
    EXPECT_THAT(definition.merge_origin.Describe(3), HasSubstr("model.merges[3]"));
  }
}

TEST(TokenizerFilesTest, TokenizerJsonTakesPrecedence) {
  bagel::testing::TempDir dir;
  WriteFileForTest(dir.path() / "vocab.json", "not json");
  WriteFileForTest(dir.path() / "tokenizer.json", ToyTokenizerJsonForTest(false).dump());
  EXPECT_EQ(ReadTokenizerDirectory(dir.path()).added_tokens.size(), 5u);
}

TEST(TokenizerFilesTest, ReadsTokenizerConfigAddedTokens) {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path(), /*with_added_tokens=*/false);
  WriteFileForTest(dir.path() / "tokenizer_config.json", R"({"added_tokens_decoder": {
      "300": {"content": "<|im_start|>", "lstrip": false, "normalized": false, "rstrip": false,
              "single_word": false, "special": true}}})");
  const TokenizerDefinition definition = ReadTokenizerDirectory(dir.path());
  ASSERT_EQ(definition.added_tokens.size(), 1u);
  EXPECT_EQ(definition.added_tokens[0].content, "<|im_start|>");
  EXPECT_EQ(definition.added_tokens[0].id, 300);
}

TEST(TokenizerFilesTest, MissingFilesAreNamed) {
  bagel::testing::TempDir dir;
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path() / "absent"); }),
              HasSubstr("absent: not a directory"));
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              HasSubstr("holds neither tokenizer.json nor vocab.json + merges.txt"));
  WriteFileForTest(dir.path() / "vocab.json", ToyVocabForTest().dump());
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              HasSubstr("merges.txt: cannot open"));
}

TEST(TokenizerFilesTest, CorruptVocabIsNamed) {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path());
  WriteFileForTest(dir.path() / "vocab.json", R"({"a": 1, "b": )");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              HasSubstr("vocab.json: not valid JSON"));
  WriteFileForTest(dir.path() / "vocab.json", R"({"a": 1, "b": "two"})");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              AllOf(HasSubstr("vocab.json"), HasSubstr("[\"b\"]: expected an integer token id")));
  WriteFileForTest(dir.path() / "vocab.json", R"({"a": -4})");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }), HasSubstr("out of range"));
  WriteFileForTest(dir.path() / "vocab.json", R"(["a"])");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              HasSubstr("expected an object of token -> id"));
}

TEST(TokenizerFilesTest, CorruptMergesAreNamedByLine) {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path());
  WriteFileForTest(dir.path() / "merges.txt", "#version: 0.2\nh e\nl  l\n");
  EXPECT_THAT(
      ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
      AllOf(HasSubstr("merges.txt: line 3"), HasSubstr("two tokens separated by one space")));
  WriteFileForTest(dir.path() / "merges.txt", "h e\n\nl l\n");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              HasSubstr("merges.txt: line 2: blank line inside the merges"));
  // Trailing blank lines and CRLF endings are fine.
  WriteFileForTest(dir.path() / "merges.txt", "h e\r\nl l\r\n\n\n");
  EXPECT_EQ(ReadTokenizerDirectory(dir.path()).merges.size(), 2u);
}

TEST(TokenizerFilesTest, CorruptTokenizerJsonIsNamedByField) {
  bagel::testing::TempDir dir;
  const fs::path file = dir.path() / "tokenizer.json";
  auto error_for = [&](const nlohmann::json& contents) {
    WriteFileForTest(file, contents.dump());
    return ErrorOf([&] { ReadTokenizerJson(file); });
  };
  nlohmann::json json = ToyTokenizerJsonForTest(false);
  json["model"].erase("vocab");
  EXPECT_THAT(error_for(json),
              AllOf(HasSubstr("tokenizer.json"), HasSubstr("model.vocab is missing")));

  json = ToyTokenizerJsonForTest(false);
  json["model"]["merges"][2] = 17;
  EXPECT_THAT(error_for(json),
              HasSubstr("field model.merges[2]: expected \"left right\" or [left, right]"));

  json = ToyTokenizerJsonForTest(false);
  json["model"]["merges"][1] = "l l l";
  EXPECT_THAT(error_for(json), HasSubstr("field model.merges[1]"));

  json = ToyTokenizerJsonForTest(false);
  json["model"]["type"] = "WordPiece";
  EXPECT_THAT(error_for(json), HasSubstr("model.type: expected \"BPE\""));

  json = ToyTokenizerJsonForTest(false);
  json["model"]["byte_fallback"] = true;
  EXPECT_THAT(error_for(json), HasSubstr("model.byte_fallback"));

  json = ToyTokenizerJsonForTest(false);
  json["added_tokens"][0]["lstrip"] = true;
  EXPECT_THAT(error_for(json), HasSubstr("added_tokens[0].lstrip is true"));

  json = ToyTokenizerJsonForTest(false);
  json["added_tokens"][1].erase("id");
  EXPECT_THAT(error_for(json), HasSubstr("added_tokens[1].id is missing"));

  WriteFileForTest(file, "{\"model\": ");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerJson(file); }),
              HasSubstr("tokenizer.json: not valid JSON"));
}

TEST(TokenizerFilesTest, CorruptAddedTokensAreNamed) {
  bagel::testing::TempDir dir;
  WriteToyVocabAndMergesForTest(dir.path());
  WriteFileForTest(dir.path() / "added_tokens.json", R"({"<|im_start|>": "x"})");
  EXPECT_THAT(ErrorOf([&] { ReadTokenizerDirectory(dir.path()); }),
              AllOf(HasSubstr("added_tokens.json"), HasSubstr("<|im_start|>")));
}

}  // namespace
}  // namespace bagel::tokenizer
