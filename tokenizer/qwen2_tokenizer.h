// Qwen2's byte-level BPE tokenizer (the tokenizer of BAGEL's language model), encoding exactly as
// the reference tokenizers do:
//
//   1. NFC normalisation of the whole text;
//   2. added (special) tokens such as "<|im_start|>" matched anywhere, leftmost-longest first, each
//      becoming its id;
//   3. the text between them split by Qwen2's pre-tokenizer regex (pre_tokenizer.h);
//   4. each piece's bytes merged by BPE rank (bpe_word_merger.h), through a bounded per-thread
//      cache of recent pieces.
//
// Decoding writes added tokens as their content and other tokens as their bytes, and turns bytes
// that are not valid UTF-8 into U+FFFD as Python's bytes.decode("utf-8", errors="replace") does;
// nothing is stripped. So Decode(Encode(text)) == NFC(text).
//
// Thread safety: every method is const and may be called from many threads at once; each call
// borrows a private encoding state (regex match data, merge buffers, word cache) from a pool.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/token_id.h"
#include "tokenizer/tokenizer_definition.h"

namespace bagel::tokenizer {

struct TokenizerOptions {
  // Pre-tokenized pieces remembered per encoding state; 0 disables the cache.
  size_t word_cache_capacity = 1 << 16;
};

// The ids of the four tokens BAGEL's data format uses (BAGEL.md): a conversation turn opens with
// <|im_start|> (BAGEL's bos_token_id) and closes with <|im_end|> (eos_token_id); an image is
// wrapped in <|vision_start|> (start_of_image) and <|vision_end|> (end_of_image).
struct BagelSpecialTokenIds {
  TokenId im_start;
  TokenId im_end;
  TokenId vision_start;
  TokenId vision_end;
};

class Qwen2Tokenizer {
 public:
  // Reads DIR (tokenizer_files.h: tokenizer.json, or vocab.json + merges.txt + added tokens).
  // Throws TokenizerError naming the file and entry at fault.
  static Qwen2Tokenizer FromDirectory(const std::filesystem::path& dir,
                                      TokenizerOptions options = {});

  // Validates and indexes `definition` (bpe_model.h lists the checks); throws TokenizerError.
  explicit Qwen2Tokenizer(const TokenizerDefinition& definition, TokenizerOptions options = {});
  ~Qwen2Tokenizer();
  Qwen2Tokenizer(Qwen2Tokenizer&&) noexcept;
  Qwen2Tokenizer& operator=(Qwen2Tokenizer&&) noexcept;

  // The ids of `text` (UTF-8; throws TokenizerError naming the offset of ill-formed bytes).
  std::vector<TokenId> Encode(std::string_view text) const;
  // Appends the ids of `text` to *ids (same as Encode, without a new vector).
  void EncodeInto(std::string_view text, std::vector<TokenId>* ids) const;
  // As Encode, but added-token strings in `text` are ordinary text (for untrusted input that
  // must not inject control tokens).
  std::vector<TokenId> EncodeIgnoringAddedTokens(std::string_view text) const;

  // The text of `ids`; throws TokenizerError naming the position of an id no token has.
  std::string Decode(std::span<const TokenId> ids) const;

  // The id of a token named by its spelling (an added token's content, or a vocabulary token as
  // spelled in vocab.json), or nullopt.
  std::optional<TokenId> FindToken(std::string_view spelling) const;

  // BAGEL's four special tokens, looked up by name; throws TokenizerError naming the missing one.
  BagelSpecialTokenIds BagelSpecialTokens() const;

  // One past the largest token id.
  TokenId id_limit() const;

  // Whether the pre-tokenizer regex runs JIT-compiled.
  bool uses_jit() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bagel::tokenizer
