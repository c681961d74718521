// Qwen2's pre-tokenizer: splits (NFC) text into the pieces that BPE encodes one by one, with the
// regex
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// matched left to right (each match is a piece; text between matches, which this regex never
// leaves, would be a piece too). PCRE2 in UTF + UCP mode, JIT-compiled when the platform allows.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bagel::tokenizer {

class PreTokenizer {
 public:
  // Compiles the regex; throws TokenizerError if PCRE2 rejects it (a broken PCRE2 build).
  PreTokenizer();
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  bool uses_jit() const { return uses_jit_; }

  // Walks the pieces of one text. Holds PCRE2's per-match state, so one Splitter per thread; the
  // PreTokenizer must outlive it.
  class Splitter {
   public:
    explicit Splitter(const PreTokenizer& pre_tokenizer);
    ~Splitter();
    Splitter(const Splitter&) = delete;
    Splitter& operator=(const Splitter&) = delete;

    // Starts on `text`, which must be well-formed UTF-8 (not re-checked) and outlive the walk.
    void Reset(std::string_view text);
    // The next piece (a view into the text); false when the text is exhausted.
    bool Next(std::string_view* piece);

   private:
    struct State;
    const PreTokenizer& pre_tokenizer_;
    std::unique_ptr<State> state_;
    std::string_view text_;
    size_t offset_ = 0;
    size_t pending_match_end_ = 0;  // a match found after a gap, returned on the next call
    size_t pending_match_begin_ = 0;
    bool has_pending_match_ = false;
  };

  // All pieces of `text` (convenience for tests and tools).
  std::vector<std::string> Split(std::string_view text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  bool uses_jit_ = false;
};

}  // namespace bagel::tokenizer
