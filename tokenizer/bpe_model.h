// A validated, indexed byte-level BPE vocabulary, built once from a TokenizerDefinition and
// shared read-only by every encoding thread: the id of each single byte, the merge table, the
// bytes each id decodes to, and the added tokens.
//
// Construction checks what the reference tokenizers check, and a little more, throwing
// TokenizerError naming the file and entry: every vocabulary spelling is byte-level alphabet text,
// ids are unique and non-negative (below 2^24), every byte has a token, both sides of a merge and
// their concatenation are tokens, and an added token neither reuses an id held by a different
// token nor appears twice with different ids.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/merge_table.h"
#include "tokenizer/token_id.h"
#include "tokenizer/tokenizer_definition.h"

namespace bagel::tokenizer {

class BpeModel {
 public:
  // The largest id accepted (keeps a corrupt file from sizing tables by a huge id).
  static constexpr TokenId kMaxTokenId = (1 << 24) - 1;

  explicit BpeModel(const TokenizerDefinition& definition);

  const MergeTable& merges() const { return merges_; }
  const std::array<TokenId, 256>& byte_ids() const { return byte_ids_; }
  bool ignore_merges() const { return ignore_merges_; }

  // One past the largest id (vocabulary and added tokens).
  TokenId id_limit() const { return static_cast<TokenId>(token_bytes_.size()); }

  // The bytes `id` decodes to (an added token: its content), or nullopt for an id no token has.
  std::optional<std::string_view> TokenBytes(TokenId id) const {
    if (id < 0 || id >= id_limit()) return std::nullopt;
    const ByteSpan span = token_bytes_[id];
    if (span.offset == kNoToken) return std::nullopt;
    return std::string_view(decode_bytes_.data() + span.offset, span.length);
  }

  // The vocabulary token whose bytes are exactly `bytes` (raw bytes, not the alphabet spelling).
  std::optional<TokenId> FindVocabBytes(std::string_view bytes) const;

  // The id of a token named by its spelling: an added token's content, or a vocabulary token's
  // byte-level alphabet spelling (as in vocab.json).
  std::optional<TokenId> FindToken(std::string_view spelling) const;

  // Added tokens, deduplicated, in definition order.
  const std::vector<AddedTokenSpec>& added_tokens() const { return added_tokens_; }

 private:
  static constexpr uint32_t kNoToken = 0xFFFFFFFFu;
  struct ByteSpan {
    uint32_t offset = kNoToken;  // kNoToken: no token has this id
    uint32_t length = 0;
  };

  void IndexVocabulary(const TokenizerDefinition& definition);
  void IndexMerges(const TokenizerDefinition& definition);
  void IndexAddedTokens(const TokenizerDefinition& definition);

  std::array<TokenId, 256> byte_ids_{};
  MergeTable merges_;
  bool ignore_merges_ = false;
  // Every token's bytes back to back; token_bytes_[id] locates id's.
  std::string decode_bytes_;
  std::vector<ByteSpan> token_bytes_;
  std::unordered_map<std::string_view, TokenId> vocab_by_bytes_;  // views into decode_bytes_
  std::unordered_map<std::string, TokenId> added_by_content_;
  std::vector<AddedTokenSpec> added_tokens_;
};

}  // namespace bagel::tokenizer
