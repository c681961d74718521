// The reference cases of tests/golden/tokenizer (README "Tokenizer"): the real Qwen2
// vocabulary, and texts with the ids Qwen2's tokenizer gives them. The directory comes from
// BAGEL_GOLDEN_DIR (CTest sets it); the tests skip when it is absent.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/golden_dir.h"
#include "testing/temp_dir.h"
#include "tokenizer/byte_level_alphabet.h"
#include "tokenizer/qwen2_tokenizer.h"
#include "tokenizer/toy_tokenizer_for_test.h"

namespace bagel::tokenizer {
namespace {

namespace fs = std::filesystem;

struct GoldenCase {
  std::string text;
  std::vector<TokenId> ids;
};

fs::path GoldenTokenizerDir() { return bagel::testing::GoldenDir() / "tokenizer"; }

std::string Nfc(const std::string& text) {
  utf8proc_uint8_t* out = nullptr;
  const auto length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::string result(reinterpret_cast<char*>(out), static_cast<size_t>(length));
  std::free(out);
  return result;
}

class GoldenTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = GoldenTokenizerDir();
    if (!fs::exists(dir / "cases.jsonl")) return;
    std::ifstream in(dir / "cases.jsonl");
    std::string line;
    cases_ = new std::vector<GoldenCase>();
    while (std::getline(in, line)) {
      const auto json = nlohmann::json::parse(line);
      cases_->push_back(
          {json.at("text").get<std::string>(), json.at("ids").get<std::vector<TokenId>>()});
    }
    tokenizer_ = new Qwen2Tokenizer(Qwen2Tokenizer::FromDirectory(dir));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete cases_;
    tokenizer_ = nullptr;
    cases_ = nullptr;
  }
  void SetUp() override {
    if (tokenizer_ == nullptr) GTEST_SKIP() << GoldenTokenizerDir() << " not present";
  }

  static std::vector<GoldenCase>* cases_;
  static Qwen2Tokenizer* tokenizer_;
};

std::vector<GoldenCase>* GoldenTokenizerTest::cases_ = nullptr;
Qwen2Tokenizer* GoldenTokenizerTest::tokenizer_ = nullptr;

TEST_F(GoldenTokenizerTest, EveryCaseEncodesToItsIds) {
  ASSERT_GT(cases_->size(), 200u);
  for (const GoldenCase& golden : *cases_) {
    EXPECT_EQ(tokenizer_->Encode(golden.text), golden.ids) << ::testing::PrintToString(golden.text);
  }
}

TEST_F(GoldenTokenizerTest, EveryCaseDecodesToItsNfcText) {
  for (const GoldenCase& golden : *cases_) {
    EXPECT_EQ(tokenizer_->Decode(golden.ids), Nfc(golden.text))
        << ::testing::PrintToString(golden.text);
  }
}

TEST_F(GoldenTokenizerTest, BagelSpecialTokensHaveTheRealIds) {
  const BagelSpecialTokenIds ids = tokenizer_->BagelSpecialTokens();
  EXPECT_EQ(ids.im_start, 151644);
  EXPECT_EQ(ids.im_end, 151645);
  EXPECT_EQ(ids.vision_start, 151652);
  EXPECT_EQ(ids.vision_end, 151653);
  EXPECT_EQ(tokenizer_->id_limit(), 151665);
}

TEST_F(GoldenTokenizerTest, SpecialTokensInsideRawTextAreSingleIds) {
  EXPECT_EQ(tokenizer_->Encode("<|im_start|>"), std::vector<TokenId>{151644});
  const auto ids = tokenizer_->Encode("a<|vision_start|><|image_pad|><|vision_end|>b<|im_end|>");
  EXPECT_EQ(ids, (std::vector<TokenId>{64, 151652, 151655, 151653, 65, 151645}));
  EXPECT_EQ(tokenizer_->Decode(ids), "a<|vision_start|><|image_pad|><|vision_end|>b<|im_end|>");
  const auto plain = tokenizer_->EncodeIgnoringAddedTokens("<|im_start|>");
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(tokenizer_->Decode(plain), "<|im_start|>");
}

TEST_F(GoldenTokenizerTest, InvalidUtf8DecodesToReplacementCharacters) {
  // "中" is E4 B8 AD; its byte tokens are the ids of the alphabet spellings of those bytes.
  auto byte_id = [&](uint8_t byte) {
    return *tokenizer_->FindToken(BytesToAlphabetText(std::string(1, static_cast<char>(byte))));
  };
  EXPECT_EQ(tokenizer_->Decode(std::vector<TokenId>{byte_id(0xE4), byte_id(0xB8), byte_id(0xAD)}),
            "\xE4\xB8\xAD");
  EXPECT_EQ(tokenizer_->Decode(std::vector<TokenId>{byte_id(0xE4), byte_id(0xB8), 9707}),
            "\xEF\xBF\xBDHello");
  EXPECT_EQ(tokenizer_->Decode(std::vector<TokenId>{byte_id(0xFF), byte_id(0xAD)}),
            "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(GoldenTokenizerTest, TokenizerJsonGivesIdenticalResults) {
  // tokenizer.json written from the golden vocab.json + merges.txt + added_tokens.json, in both
  // merge forms.
  const fs::path golden = GoldenTokenizerDir();
  auto read_json = [](const fs::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
  };
  const nlohmann::json vocab = read_json(golden / "vocab.json");
  const nlohmann::json added = read_json(golden / "added_tokens.json");
  std::vector<std::pair<std::string, std::string>> merges;
  {
    std::ifstream in(golden / "merges.txt");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
  }
  for (bool pair_merges : {false, true}) {
    nlohmann::json merge_list = nlohmann::json::array();
    for (const auto& [left, right] : merges) {
      merge_list.push_back(pair_merges ? nlohmann::json::array({left, right})
                                       : nlohmann::json(left + " " + right));
    }
    nlohmann::json added_list = nlohmann::json::array();
    for (const auto& [content, id] : added.items()) {
      added_list.push_back({{"id", id},
                            {"content", content},
                            {"special", true},
                            {"lstrip", false},
                            {"rstrip", false},
                            {"single_word", false},
                            {"normalized", false}});
    }
    const nlohmann::json tokenizer_json = {
        {"added_tokens", added_list},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}}};
    bagel::testing::TempDir dir;
    WriteFileForTest(dir.path() / "tokenizer.json", tokenizer_json.dump());
    const Qwen2Tokenizer from_json = Qwen2Tokenizer::FromDirectory(dir.path());
    for (const GoldenCase& golden_case : *cases_) {
      EXPECT_EQ(from_json.Encode(golden_case.text), golden_case.ids)
          << ::testing::PrintToString(golden_case.text);
      EXPECT_EQ(from_json.Decode(golden_case.ids), tokenizer_->Decode(golden_case.ids));
    }
    EXPECT_EQ(from_json.BagelSpecialTokens().vision_end, 151653);
  }
}

TEST_F(GoldenTokenizerTest, CacheDoesNotChangeResults) {
  const Qwen2Tokenizer uncached =
      Qwen2Tokenizer::FromDirectory(GoldenTokenizerDir(), {.word_cache_capacity = 0});
  const Qwen2Tokenizer tiny =
      Qwen2Tokenizer::FromDirectory(GoldenTokenizerDir(), {.word_cache_capacity = 3});
  for (int round = 0; round < 2; ++round) {
    for (const GoldenCase& golden : *cases_) {
      EXPECT_EQ(uncached.Encode(golden.text), golden.ids);
      EXPECT_EQ(tiny.Encode(golden.text), golden.ids);
      EXPECT_EQ(tokenizer_->Encode(golden.text), golden.ids);
    }
  }
}

}  // namespace
}  // namespace bagel::tokenizer
