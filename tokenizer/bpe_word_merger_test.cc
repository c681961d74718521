#include "tokenizer/bpe_word_merger.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace bagel::tokenizer {
namespace {

// A toy byte-level model: byte b has id b; merges get ids from 256 on.
class ToyModel {
 public:
  ToyModel() {
    for (int b = 0; b < 256; ++b) {
      byte_ids_[b] = b;
      tokens_[std::string(1, static_cast<char>(b))] = b;
    }
  }

  // Adds the merge left + right (both existing tokens) with the next rank.
  void AddMerge(const std::string& left, const std::string& right) {
    const std::string merged = left + right;
    auto found = tokens_.find(merged);
    const TokenId merged_id = found != tokens_.end() ? found->second : next_id_++;
    tokens_[merged] = merged_id;
    names_[merged_id] = merged;
    table_.Insert(tokens_.at(left), tokens_.at(right), {rank_++, merged_id});
  }

  std::vector<std::string> Encode(const std::string& word, size_t short_word_limit) const {
    BpeWordMerger merger(table_, byte_ids_, short_word_limit);
    std::vector<TokenId> ids;
    merger.Encode(word, &ids);
    std::vector<std::string> pieces;
    for (TokenId id : ids)
      pieces.push_back(id < 256 ? std::string(1, static_cast<char>(id)) : names_.at(id));
    return pieces;
  }

  const std::map<std::string, TokenId>& tokens() const { return tokens_; }

 private:
  std::array<TokenId, 256> byte_ids_{};
  MergeTable table_;
  std::map<std::string, TokenId> tokens_;
  std::map<TokenId, std::string> names_;
  TokenId next_id_ = 256;
  int32_t rank_ = 0;
};

using Pieces = std::vector<std::string>;

TEST(BpeWordMergerTest, MergesByRankNotByPosition) {
  ToyModel model;
  model.AddMerge("b", "c");   // rank 0
  model.AddMerge("a", "b");   // rank 1
  model.AddMerge("a", "bc");  // rank 2
  for (size_t limit : {size_t{0}, size_t{64}}) {
    // "bc" merges first (rank 0), then "a"+"bc".
    EXPECT_EQ(model.Encode("abc", limit), (Pieces{"abc"}));
    EXPECT_EQ(model.Encode("abd", limit), (Pieces{"ab", "d"}));
    EXPECT_EQ(model.Encode("x", limit), (Pieces{"x"}));
    EXPECT_EQ(model.Encode("zz", limit), (Pieces{"z", "z"}));
  }
}

TEST(BpeWordMergerTest, EqualRanksMergeLeftmostFirst) {
  ToyModel model;
  model.AddMerge("a", "a");
  for (size_t limit : {size_t{0}, size_t{64}}) {
    EXPECT_EQ(model.Encode("aaa", limit), (Pieces{"aa", "a"}));
    EXPECT_EQ(model.Encode("aaaaa", limit), (Pieces{"aa", "aa", "a"}));
  }
}

// The array scan (short words) and the heap (long words) must agree on everything.
TEST(BpeWordMergerTest, ShortAndLongPathsAgreeOnRandomWords) {
  std::mt19937 rng(42);
  ToyModel model;
  const std::string letters = "abcd";
  std::vector<std::string> tokens(letters.size());
  for (size_t i = 0; i < letters.size(); ++i) tokens[i] = std::string(1, letters[i]);
  std::uniform_int_distribution<size_t> pick_letter(0, letters.size() - 1);
  for (int i = 0; i < 300; ++i) {
    std::uniform_int_distribution<size_t> pick(0, tokens.size() - 1);
    const std::string left = tokens[pick(rng)], right = tokens[pick(rng)];
    if (left.size() + right.size() > 8) continue;
    model.AddMerge(left, right);
    tokens.push_back(left + right);
  }
  std::uniform_int_distribution<int> length(1, 80);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string word;
    for (int n = length(rng); n > 0; --n) word.push_back(letters[pick_letter(rng)]);
    const Pieces by_scan = model.Encode(word, 1000);
    const Pieces by_heap = model.Encode(word, 1);
    ASSERT_EQ(by_scan, by_heap) << word;
    std::string joined;
    for (const auto& piece : by_scan) joined += piece;
    ASSERT_EQ(joined, word);
  }
}

}  // namespace
}  // namespace bagel::tokenizer
