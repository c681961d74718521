#include "tokenizer/jsonl_tokenize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "testing/temp_dir.h"
#include "tokenizer/tokenizer_error.h"
#include "tokenizer/toy_tokenizer_for_test.h"

namespace bagel::tokenizer {
namespace {

using ::testing::HasSubstr;

class JsonLinesTest : public ::testing::Test {
 protected:
  JsonLinesTest() : tokenizer_(MakeToy()) {}

  static Qwen2Tokenizer MakeToy() {
    bagel::testing::TempDir dir;
    WriteToyVocabAndMergesForTest(dir.path());
    return Qwen2Tokenizer::FromDirectory(dir.path());
  }

  std::string Convert(JsonLinesDirection direction, const std::string& input) {
    std::istringstream in(input);
    std::ostringstream out;
    ConvertJsonLines(tokenizer_, direction, in, "in.jsonl", out);
    return out.str();
  }

  std::string ErrorOf(JsonLinesDirection direction, const std::string& input) {
    try {
      Convert(direction, input);
    } catch (const TokenizerError& error) {
      return error.what();
    }
    return "";
  }

  Qwen2Tokenizer tokenizer_;
};

TEST_F(JsonLinesTest, EncodesLineByLine) {
  EXPECT_EQ(Convert(JsonLinesDirection::kEncode,
                    "{\"text\": \"hello world\"}\n{\"text\": \"\", \"ids\": [1]}\n"
                    "{\"text\": \"<|im_start|>hello\"}"),
            "{\"ids\": [259, 264]}\n{\"ids\": []}\n{\"ids\": [300, 259]}\n");
  EXPECT_EQ(Convert(JsonLinesDirection::kEncode, ""), "");
}

TEST_F(JsonLinesTest, DecodesLineByLine) {
  EXPECT_EQ(Convert(JsonLinesDirection::kDecode,
                    "{\"ids\": [259, 264]}\r\n{\"ids\": []}\n{\"ids\": [300, 10, 228]}\n"),
            "{\"text\": \"hello world\"}\n{\"text\": \"\"}\n"
            "{\"text\": \"<|im_start|>\\n\xEF\xBF\xBD\"}\n");
}

TEST_F(JsonLinesTest, BadLinesAreNamedByLineAndField) {
  const auto encode = JsonLinesDirection::kEncode;
  const auto decode = JsonLinesDirection::kDecode;
  EXPECT_THAT(ErrorOf(encode, "{\"text\": \"a\"}\n\n"), HasSubstr("in.jsonl:2: blank line"));
  EXPECT_THAT(ErrorOf(encode, "{\"text\": \"a\"\n"), HasSubstr("in.jsonl:1: not valid JSON"));
  EXPECT_THAT(ErrorOf(encode, "[1]\n"), HasSubstr("in.jsonl:1: expected a JSON object"));
  EXPECT_THAT(ErrorOf(encode, "{\"txt\": \"a\"}\n"),
              HasSubstr("in.jsonl:1: field \"text\" is missing"));
  EXPECT_THAT(ErrorOf(encode, "{\"text\": \"a\"}\n{\"text\": 5}\n"),
              HasSubstr("in.jsonl:2: field \"text\": expected a string"));
  EXPECT_THAT(ErrorOf(decode, "{\"ids\": 5}\n"),
              HasSubstr("in.jsonl:1: field \"ids\": expected an array"));
  EXPECT_THAT(ErrorOf(decode, "{\"ids\": [1, -2]}\n"),
              HasSubstr("in.jsonl:1: field \"ids\"[1]: expected a non-negative integer"));
  EXPECT_THAT(ErrorOf(decode, "{\"ids\": [1.5]}\n"), HasSubstr("field \"ids\"[0]"));
  EXPECT_THAT(
      ErrorOf(decode, "{\"ids\": [1, 270]}\n"),
      HasSubstr("in.jsonl:1: field \"ids\": token id 270 at position 1 is not in the vocabulary"));
  EXPECT_THAT(ErrorOf(decode, "{\"ids\": [99999999999]}\n"), HasSubstr("field \"ids\"[0]"));
}

}  // namespace
}  // namespace bagel::tokenizer
