// Test-only helpers: a tiny byte-level tokenizer written in both layouts
// (vocab.json + merges.txt + added_tokens.json, and tokenizer.json). The toy vocabulary gives byte
// b the id b, merges "hello" and " world", and has five added tokens (ids 299..303), leaving ids
// 265..298 unused.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/byte_level_alphabet.h"

namespace bagel::tokenizer {

inline void WriteFileForTest(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The toy merges, in rank order, as byte-level spellings ("\xC4\xA0" is Ġ, the space).
inline std::vector<std::pair<std::string, std::string>> ToyMergesForTest() {
  return {{"h", "e"},          {"l", "l"},           {"he", "ll"},
          {"hell", "o"},       {"\xC4\xA0", "w"},    {"o", "r"},
          {"\xC4\xA0w", "or"}, {"\xC4\xA0wor", "l"}, {"\xC4\xA0worl", "d"}};
}

inline nlohmann::json ToyVocabForTest() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b)
    vocab[BytesToAlphabetText(std::string(1, static_cast<char>(b)))] = b;
  int next_id = 256;
  for (const auto& [left, right] : ToyMergesForTest()) vocab[left + right] = next_id++;
  return vocab;
}

inline std::vector<std::pair<std::string, int>> ToyAddedTokensForTest() {
  return {{"<|endoftext|>", 299},
          {"<|im_start|>", 300},
          {"<|im_end|>", 301},
          {"<|vision_start|>", 302},
          {"<|vision_end|>", 303}};
}

inline std::string ToyMergesTxtForTest() {
  std::string text = "#version: 0.2\n";
  for (const auto& [left, right] : ToyMergesForTest()) text += left + " " + right + "\n";
  return text;
}

inline void WriteToyVocabAndMergesForTest(const std::filesystem::path& dir,
                                          bool with_added_tokens = true) {
  WriteFileForTest(dir / "vocab.json", ToyVocabForTest().dump());
  WriteFileForTest(dir / "merges.txt", ToyMergesTxtForTest());
  if (with_added_tokens) {
    nlohmann::json added = nlohmann::json::object();
    for (const auto& [content, id] : ToyAddedTokensForTest()) added[content] = id;
    WriteFileForTest(dir / "added_tokens.json", added.dump());
  }
}

// HF's tokenizer.json layout; merges as "a b" strings or, with pair_merges, [a, b] pairs.
inline nlohmann::json ToyTokenizerJsonForTest(bool pair_merges) {
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& [left, right] : ToyMergesForTest()) {
    merges.push_back(pair_merges ? nlohmann::json::array({left, right})
                                 : nlohmann::json(left + " " + right));
  }
  nlohmann::json added = nlohmann::json::array();
  for (const auto& [content, id] : ToyAddedTokensForTest()) {
    added.push_back({{"id", id},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", ToyVocabForTest()},
            {"merges", merges}}}};
}

}  // namespace bagel::tokenizer
