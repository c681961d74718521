#include "model/inference/prompt_codec.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "model/config/presets.h"
#include "testing/golden_dir.h"

namespace bagel {
namespace {

TEST(PromptCodecTest, ByteVocabularyForTinyModels) {
  const BagelConfig tiny = PresetConfig("tiny");
  const PromptCodec codec = PromptCodec::ForModel(tiny, "");
  EXPECT_EQ(codec.description(), "byte vocabulary");
  EXPECT_EQ(codec.Encode("Hi \xff"), (std::vector<int64_t>{72, 105, 32, 251}));
  EXPECT_EQ(codec.special_tokens().bos, 252);
  EXPECT_EQ(codec.special_tokens().eos, 253);
  EXPECT_EQ(codec.special_tokens().start_of_image, 254);
  EXPECT_EQ(codec.special_tokens().end_of_image, 255);
  EXPECT_EQ(codec.Decode({252, 72, 105, 253}), "Hi");
}

TEST(PromptCodecTest, LargeVocabularyWithoutTokenizerIsAnError) {
  const BagelConfig small = PresetConfig("small");
  try {
    PromptCodec::ForModel(small, "/nonexistent/dir");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("/nonexistent/dir"), std::string::npos);
    EXPECT_NE(std::string(e.what_without_backtrace()).find("needs its tokenizer"),
              std::string::npos);
  }
}

TEST(PromptCodecTest, Qwen2TokenizerOfTheGoldenCases) {
  const std::string dir = (bagel::testing::GoldenDir() / "tokenizer").string();
  if (!PromptCodec::HasTokenizer(dir)) GTEST_SKIP() << "no golden tokenizer (BAGEL_GOLDEN_DIR)";
  const PromptCodec codec = PromptCodec::ForModel(PresetConfig("small"), dir);
  // tests/golden/tokenizer/cases.jsonl: "Hello world" -> [9707, 1879].
  EXPECT_EQ(codec.Encode("Hello world"), (std::vector<int64_t>{9707, 1879}));
  EXPECT_EQ(codec.special_tokens().bos, 151644);
  EXPECT_EQ(codec.special_tokens().eos, 151645);
  EXPECT_EQ(codec.special_tokens().start_of_image, 151652);
  EXPECT_EQ(codec.special_tokens().end_of_image, 151653);
  EXPECT_EQ(codec.Decode({151644, 9707, 1879, 151645}), "Hello world");
  // Ids at or beyond the tokenizer's limit (BAGEL-7B has 152,064 rows) have no text.
  EXPECT_EQ(codec.Decode({9707, 151700, 152000, 1879}), "Hello world");
  // A tokenizer with more ids than the model has rows is refused.
  EXPECT_THROW(PromptCodec::ForModel(PresetConfig("tiny"), dir), c10::Error);
}

}  // namespace
}  // namespace bagel
