#include "tokenizer/qwen2_tokenizer.h"

#include <mutex>

#include "tokenizer/added_token_matcher.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/bpe_word_merger.h"
#include "tokenizer/nfc_normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_error.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace bagel::tokenizer {
namespace {

std::vector<AddedTokenMatcher::Token> MatcherTokens(const BpeModel& model) {
  std::vector<AddedTokenMatcher::Token> tokens;
  for (const AddedTokenSpec& added : model.added_tokens()) {
    tokens.push_back({added.content, added.id});
  }
  return tokens;
}

}  // namespace

// What one encoding call needs for itself; pooled so calls allocate nothing once warm.
struct EncodeState {
  EncodeState(const BpeModel& model, const PreTokenizer& pre_tokenizer, size_t cache_capacity)
      : splitter(pre_tokenizer), merger(model.merges(), model.byte_ids()), cache(cache_capacity) {}

  std::string normalized;
  PreTokenizer::Splitter splitter;
  BpeWordMerger merger;
  WordCache cache;
};

struct Qwen2Tokenizer::Impl {
  Impl(const TokenizerDefinition& definition, TokenizerOptions options)
      : options(options), model(definition), added_tokens(MatcherTokens(model)) {}

  // Pieces of `segment` (NFC text holding no added token) -> ids.
  void EncodeSegment(std::string_view segment, EncodeState& state,
                     std::vector<TokenId>* ids) const {
    state.splitter.Reset(segment);
    std::string_view piece;
    while (state.splitter.Next(&piece)) {
      if (model.ignore_merges()) {
        if (auto whole = model.FindVocabBytes(piece)) {
          ids->push_back(*whole);
          continue;
        }
      }
      if (piece.size() == 1) {
        ids->push_back(model.byte_ids()[static_cast<uint8_t>(piece[0])]);
        continue;
      }
      if (state.cache.AppendCached(piece, ids)) continue;
      const size_t first = ids->size();
      state.merger.Encode(piece, ids);
      state.cache.Insert(piece, std::span<const TokenId>(ids->data() + first, ids->size() - first));
    }
  }

  void Encode(std::string_view text, bool match_added_tokens, std::vector<TokenId>* ids) const {
    StateLease lease(*this);
    EncodeState& state = lease.state();
    const std::string_view normalized = NormalizeNfc(text, &state.normalized);
    size_t position = 0;
    if (match_added_tokens) {
      while (auto match = added_tokens.FindNext(normalized, position)) {
        EncodeSegment(normalized.substr(position, match->begin - position), state, ids);
        ids->push_back(match->id);
        position = match->begin + match->length;
      }
    }
    EncodeSegment(normalized.substr(position), state, ids);
  }

  // Borrows a pooled state (or makes one) for one call and gives it back, also on a throw.
  class StateLease {
   public:
    explicit StateLease(const Impl& impl) : impl_(impl) {
      {
        std::lock_guard<std::mutex> lock(impl_.pool_mutex);
        if (!impl_.pool.empty()) {
          state_ = std::move(impl_.pool.back());
          impl_.pool.pop_back();
        }
      }
      if (state_ == nullptr) {
        state_ = std::make_unique<EncodeState>(impl_.model, impl_.pre_tokenizer,
                                               impl_.options.word_cache_capacity);
      }
    }
    ~StateLease() {
      std::lock_guard<std::mutex> lock(impl_.pool_mutex);
      impl_.pool.push_back(std::move(state_));
    }
    StateLease(const StateLease&) = delete;
    StateLease& operator=(const StateLease&) = delete;

    EncodeState& state() { return *state_; }

   private:
    const Impl& impl_;
    std::unique_ptr<EncodeState> state_;
  };

  TokenizerOptions options;
  BpeModel model;
  AddedTokenMatcher added_tokens;
  PreTokenizer pre_tokenizer;
  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<EncodeState>> pool;
};

Qwen2Tokenizer Qwen2Tokenizer::FromDirectory(const std::filesystem::path& dir,
                                             TokenizerOptions options) {
  return Qwen2Tokenizer(ReadTokenizerDirectory(dir), options);
}

Qwen2Tokenizer::Qwen2Tokenizer(const TokenizerDefinition& definition, TokenizerOptions options)
    : impl_(std::make_unique<Impl>(definition, options)) {}

Qwen2Tokenizer::~Qwen2Tokenizer() = default;
Qwen2Tokenizer::Qwen2Tokenizer(Qwen2Tokenizer&&) noexcept = default;
Qwen2Tokenizer& Qwen2Tokenizer::operator=(Qwen2Tokenizer&&) noexcept = default;

std::vector<TokenId> Qwen2Tokenizer::Encode(std::string_view text) const {
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  impl_->Encode(text, /*match_added_tokens=*/true, &ids);
  return ids;
}

void Qwen2Tokenizer::EncodeInto(std::string_view text, std::vector<TokenId>* ids) const {
  impl_->Encode(text, /*match_added_tokens=*/true, ids);
}

std::vector<TokenId> Qwen2Tokenizer::EncodeIgnoringAddedTokens(std::string_view text) const {
  std::vector<TokenId> ids;
  impl_->Encode(text, /*match_added_tokens=*/false, &ids);
  return ids;
}

std::string Qwen2Tokenizer::Decode(std::span<const TokenId> ids) const {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto token = impl_->model.TokenBytes(ids[i]);
    if (!token) {
      throw TokenizerError("token id " + std::to_string(ids[i]) + " at position " +
                           std::to_string(i) + " is not in the vocabulary (ids are 0.." +
                           std::to_string(impl_->model.id_limit() - 1) + ")");
    }
    bytes.append(*token);
  }
  return DecodeUtf8Lossy(bytes);
}

std::optional<TokenId> Qwen2Tokenizer::FindToken(std::string_view spelling) const {
  return impl_->model.FindToken(spelling);
}

BagelSpecialTokenIds Qwen2Tokenizer::BagelSpecialTokens() const {
  auto require = [&](std::string_view name) {
    auto id = FindToken(name);
    if (!id) {
      throw TokenizerError("the tokenizer has no " + std::string(name) +
                           " token, which BAGEL needs (is added_tokens.json or tokenizer.json's "
                           "added_tokens missing?)");
    }
    return *id;
  };
  return BagelSpecialTokenIds{require("<|im_start|>"), require("<|im_end|>"),
                              require("<|vision_start|>"), require("<|vision_end|>")};
}

TokenId Qwen2Tokenizer::id_limit() const { return impl_->model.id_limit(); }

bool Qwen2Tokenizer::uses_jit() const { return impl_->pre_tokenizer.uses_jit(); }

}  // namespace bagel::tokenizer
