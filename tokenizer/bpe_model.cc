#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level_alphabet.h"
#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

std::string Quoted(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

std::string HexByte(int byte) {
  constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string("0x") + kDigits[byte >> 4] + kDigits[byte & 15];
}

}  // namespace

BpeModel::BpeModel(const TokenizerDefinition& definition)
    : merges_(definition.merges.size()), ignore_merges_(definition.ignore_merges) {
  IndexVocabulary(definition);
  IndexMerges(definition);
  IndexAddedTokens(definition);
  // Built last: the views point into decode_bytes_, which no longer grows.
  vocab_by_bytes_.reserve(definition.vocab.size());
  for (const auto& [spelling, id] : definition.vocab) {
    vocab_by_bytes_.emplace(*TokenBytes(id), id);
  }
}

void BpeModel::IndexVocabulary(const TokenizerDefinition& definition) {
  const std::string& origin = definition.vocab_origin;
  TokenId max_id = -1;
  for (const auto& [spelling, id] : definition.vocab) {
    if (id < 0 || id > kMaxTokenId) {
      throw TokenizerError(origin + ": token " + Quoted(spelling) + " has id " +
                           std::to_string(id) + ", outside 0.." + std::to_string(kMaxTokenId));
    }
    max_id = std::max(max_id, id);
  }
  for (const AddedTokenSpec& added : definition.added_tokens) {
    if (added.id < 0 || added.id > kMaxTokenId) {
      throw TokenizerError(added.origin + ": id " + std::to_string(added.id) + " is outside 0.." +
                           std::to_string(kMaxTokenId));
    }
    max_id = std::max(max_id, added.id);
  }
  token_bytes_.assign(static_cast<size_t>(max_id) + 1, ByteSpan{});

  std::vector<const std::string*> spelling_of_id(token_bytes_.size(), nullptr);
  std::unordered_map<std::string, TokenId> id_of_bytes;
  id_of_bytes.reserve(definition.vocab.size());
  for (const auto& [spelling, id] : definition.vocab) {
    auto bytes = AlphabetTextToBytes(spelling);
    if (!bytes || bytes->empty()) {
      throw TokenizerError(origin + ": token " + Quoted(spelling) + " (id " + std::to_string(id) +
                           ") is not spelled in the byte-level alphabet");
    }
    if (spelling_of_id[id] != nullptr) {
      throw TokenizerError(origin + ": id " + std::to_string(id) + " is given to both " +
                           Quoted(*spelling_of_id[id]) + " and " + Quoted(spelling));
    }
    if (!id_of_bytes.emplace(*bytes, id).second) {
      throw TokenizerError(origin + ": token " + Quoted(spelling) + " appears twice");
    }
    spelling_of_id[id] = &spelling;
    token_bytes_[id] =
        ByteSpan{static_cast<uint32_t>(decode_bytes_.size()), static_cast<uint32_t>(bytes->size())};
    decode_bytes_ += *bytes;
  }
  for (int byte = 0; byte < 256; ++byte) {
    auto found = id_of_bytes.find(std::string(1, static_cast<char>(byte)));
    if (found == id_of_bytes.end()) {
      throw TokenizerError(origin + ": no token for the byte " + HexByte(byte) + " (spelled " +
                           Quoted(BytesToAlphabetText(std::string(1, static_cast<char>(byte)))) +
                           "); a byte-level vocabulary needs all 256");
    }
    byte_ids_[byte] = found->second;
  }
}

void BpeModel::IndexMerges(const TokenizerDefinition& definition) {
  // Spellings are looked up through their bytes, like the tokens themselves.
  std::unordered_map<std::string_view, TokenId> id_of_bytes;
  id_of_bytes.reserve(definition.vocab.size());
  for (const auto& [spelling, id] : definition.vocab) id_of_bytes.emplace(*TokenBytes(id), id);

  std::string left_bytes, right_bytes;
  for (size_t rank = 0; rank < definition.merges.size(); ++rank) {
    const auto& [left, right] = definition.merges[rank];
    auto lookup = [&](const std::string& spelling, std::string* bytes) -> TokenId {
      auto converted = AlphabetTextToBytes(spelling);
      auto found = converted ? id_of_bytes.find(*converted) : id_of_bytes.end();
      if (found == id_of_bytes.end()) {
        throw TokenizerError(definition.merge_origin.Describe(rank) + ": " +
                             Quoted(left + " " + right) + ": " + Quoted(spelling) +
                             " is not in the vocabulary");
      }
      *bytes = std::move(*converted);
      return found->second;
    };
    const TokenId left_id = lookup(left, &left_bytes);
    const TokenId right_id = lookup(right, &right_bytes);
    auto merged = id_of_bytes.find(left_bytes + right_bytes);
    if (merged == id_of_bytes.end()) {
      throw TokenizerError(definition.merge_origin.Describe(rank) + ": " +
                           Quoted(left + " " + right) + ": the merged token " +
                           Quoted(left + right) + " is not in the vocabulary");
    }
    merges_.Insert(left_id, right_id, MergeRule{static_cast<int32_t>(rank), merged->second});
  }
}

void BpeModel::IndexAddedTokens(const TokenizerDefinition& definition) {
  for (const AddedTokenSpec& added : definition.added_tokens) {
    auto [known, inserted] = added_by_content_.emplace(added.content, added.id);
    if (!inserted) {
      if (known->second != added.id) {
        throw TokenizerError(added.origin + ": id " + std::to_string(added.id) +
                             " disagrees with id " + std::to_string(known->second) +
                             " declared earlier for the same token");
      }
      continue;  // the same token declared by two files
    }
    const ByteSpan existing = token_bytes_[added.id];
    if (existing.offset != kNoToken) {
      const std::string_view existing_bytes(decode_bytes_.data() + existing.offset,
                                            existing.length);
      if (existing_bytes != added.content) {
        throw TokenizerError(added.origin + ": id " + std::to_string(added.id) +
                             " already belongs to the token " +
                             Quoted(BytesToAlphabetText(existing_bytes)));
      }
    } else {
      token_bytes_[added.id] = ByteSpan{static_cast<uint32_t>(decode_bytes_.size()),
                                        static_cast<uint32_t>(added.content.size())};
      decode_bytes_ += added.content;
    }
    added_tokens_.push_back(added);
  }
}

std::optional<TokenId> BpeModel::FindVocabBytes(std::string_view bytes) const {
  auto found = vocab_by_bytes_.find(bytes);
  if (found == vocab_by_bytes_.end()) return std::nullopt;
  return found->second;
}

std::optional<TokenId> BpeModel::FindToken(std::string_view spelling) const {
  if (auto added = added_by_content_.find(std::string(spelling));
      added != added_by_content_.end()) {
    return added->second;
  }
  auto bytes = AlphabetTextToBytes(spelling);
  if (!bytes) return std::nullopt;
  return FindVocabBytes(*bytes);
}

}  // namespace bagel::tokenizer
