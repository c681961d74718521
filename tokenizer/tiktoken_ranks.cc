#include "tokenizer/tiktoken_ranks.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "tokenizer/byte_level_alphabet.h"
#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void Fail(const fs::path& file, size_t line, const std::string& what) {
  throw TokenizerError(file.string() + ":" + std::to_string(line) + ": " + what);
}

// Standard base64 (with padding) to bytes; nullopt on anything else.
std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

struct RankedToken {
  std::string bytes;
  TokenId rank;
  size_t line;
};

// The two parts byte-level BPE ends with on `token` when only ranks below `rank` may merge.
std::vector<std::string> MergeBelowRank(const std::string& token, TokenId rank,
                                        const std::unordered_map<std::string, TokenId>& ranks) {
  std::vector<std::string> parts;
  parts.reserve(token.size());
  for (char byte : token) parts.emplace_back(1, byte);
  std::string pair;
  while (parts.size() > 1) {
    size_t best = 0;
    TokenId best_rank = std::numeric_limits<TokenId>::max();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      pair.assign(parts[i]).append(parts[i + 1]);
      auto found = ranks.find(pair);
      if (found != ranks.end() && found->second < rank && found->second < best_rank) {
        best_rank = found->second;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<TokenId>::max()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  return parts;
}

}  // namespace

TokenizerDefinition ReadTiktokenRanks(const fs::path& ranks_file) {
  std::ifstream in(ranks_file, std::ios::binary);
  if (!in) {
    throw TokenizerError(ranks_file.string() + ": cannot open (" + std::strerror(errno) + ")");
  }
  std::vector<RankedToken> tokens;
  std::unordered_map<std::string, TokenId> ranks;
  std::unordered_map<TokenId, size_t> rank_lines;
  std::string text;
  for (size_t line = 1; std::getline(in, text); ++line) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty()) continue;
    const size_t space = text.find(' ');
    if (space == std::string::npos) Fail(ranks_file, line, "expected \"<base64> <rank>\"");
    const std::string_view encoded(text.data(), space);
    const std::string_view rank_text(text.data() + space + 1, text.size() - space - 1);
    TokenId rank = 0;
    const auto [end, error] =
        std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
    if (error != std::errc() || end != rank_text.data() + rank_text.size() || rank < 0) {
      Fail(ranks_file, line, "rank \"" + std::string(rank_text) + "\" is not a token id");
    }
    auto bytes = DecodeBase64(encoded);
    if (!bytes || bytes->empty()) {
      Fail(ranks_file, line, "\"" + std::string(encoded) + "\" is not base64 token bytes");
    }
    if (!ranks.emplace(*bytes, rank).second) {
      Fail(ranks_file, line, "token \"" + std::string(encoded) + "\" is listed twice");
    }
    if (auto [it, fresh] = rank_lines.emplace(rank, line); !fresh) {
      Fail(ranks_file, line,
           "rank " + std::to_string(rank) + " was already given on line " +
               std::to_string(it->second));
    }
    tokens.push_back({std::move(*bytes), rank, line});
  }
  if (in.bad()) throw TokenizerError(ranks_file.string() + ": read error");
  if (tokens.empty()) throw TokenizerError(ranks_file.string() + ": no ranks");
  for (int byte = 0; byte < 256; ++byte) {
    if (!ranks.count(std::string(1, static_cast<char>(byte)))) {
      throw TokenizerError(ranks_file.string() + ": the single byte " + std::to_string(byte) +
                           " has no rank (a byte-level vocabulary needs all 256)");
    }
  }
  std::sort(tokens.begin(), tokens.end(),
            [](const RankedToken& a, const RankedToken& b) { return a.rank < b.rank; });

  TokenizerDefinition definition;
  definition.vocab_origin = ranks_file.string();
  definition.merge_origin = {ranks_file.string() + ": merge of rank ", 0, ""};
  definition.vocab.reserve(tokens.size());
  definition.merges.reserve(tokens.size());
  for (const RankedToken& token : tokens) {
    definition.vocab.emplace_back(BytesToAlphabetText(token.bytes), token.rank);
    if (token.bytes.size() == 1) continue;
    const auto parts = MergeBelowRank(token.bytes, token.rank, ranks);
    if (parts.size() != 2) {
      Fail(ranks_file, token.line,
           "token of rank " + std::to_string(token.rank) +
               " is not the merge of two lower-ranked tokens (" + std::to_string(parts.size()) +
               " parts remain)");
    }
    definition.merges.emplace_back(BytesToAlphabetText(parts[0]), BytesToAlphabetText(parts[1]));
  }
  return definition;
}

std::vector<AddedTokenSpec> Qwen2SpecialTokens(TokenId first_id) {
  static constexpr const char* kContents[] = {
      "<|endoftext|>",      "<|im_start|>",     "<|im_end|>",     "<|object_ref_start|>",
      "<|object_ref_end|>", "<|box_start|>",    "<|box_end|>",    "<|quad_start|>",
      "<|quad_end|>",       "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
      "<|image_pad|>",      "<|video_pad|>",    "<tool_call>",    "</tool_call>",
      "<|fim_prefix|>",     "<|fim_middle|>",   "<|fim_suffix|>", "<|fim_pad|>",
      "<|repo_name|>",      "<|file_sep|>"};
  std::vector<AddedTokenSpec> tokens;
  TokenId id = first_id;
  for (const char* content : kContents) {
    tokens.push_back({content, id++, true, std::string("Qwen2 special token ") + content});
  }
  return tokens;
}

}  // namespace bagel::tokenizer
