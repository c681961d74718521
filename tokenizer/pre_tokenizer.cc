#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The JIT machine stack grows up to this size: enough for any backtracking this pattern does
// (it never nests), generous so a long whitespace run cannot exhaust it.
constexpr size_t kJitStackStart = 32 * 1024;
constexpr size_t kJitStackMax = 1024 * 1024;

std::string Pcre2ErrorText(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

struct PreTokenizer::Splitter::State {
  pcre2_match_data* match_data = nullptr;
  pcre2_match_context* match_context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  ~State() {
    pcre2_match_data_free(match_data);
    pcre2_match_context_free(match_context);
    pcre2_jit_stack_free(jit_stack);
  }
};

PreTokenizer::PreTokenizer() : compiled_(std::make_unique<Compiled>()) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kQwen2Pattern.data()), kQwen2Pattern.size(),
                    PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (compiled_->code == nullptr) {
    throw TokenizerError("PCRE2 rejected the Qwen2 pre-tokenizer regex at offset " +
                         std::to_string(error_offset) + ": " + Pcre2ErrorText(error_code));
  }
  // Without JIT support (or with JIT memory denied) the interpreter gives the same matches.
  uses_jit_ = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizer::~PreTokenizer() = default;

PreTokenizer::Splitter::Splitter(const PreTokenizer& pre_tokenizer)
    : pre_tokenizer_(pre_tokenizer), state_(std::make_unique<State>()) {
  state_->match_data = pcre2_match_data_create(1, nullptr);
  state_->match_context = pcre2_match_context_create(nullptr);
  if (state_->match_data == nullptr || state_->match_context == nullptr) {
    throw TokenizerError("PCRE2 could not allocate its match state");
  }
  if (pre_tokenizer_.uses_jit_) {
    state_->jit_stack = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
    if (state_->jit_stack == nullptr) throw TokenizerError("PCRE2 could not allocate a JIT stack");
    pcre2_jit_stack_assign(state_->match_context, nullptr, state_->jit_stack);
  }
}

PreTokenizer::Splitter::~Splitter() = default;

void PreTokenizer::Splitter::Reset(std::string_view text) {
  text_ = text;
  offset_ = 0;
  has_pending_match_ = false;
}

bool PreTokenizer::Splitter::Next(std::string_view* piece) {
  if (has_pending_match_) {
    has_pending_match_ = false;
    *piece = text_.substr(pending_match_begin_, pending_match_end_ - pending_match_begin_);
    offset_ = pending_match_end_;
    return true;
  }
  if (offset_ >= text_.size()) return false;

  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text_.data());
  pcre2_code* code = pre_tokenizer_.compiled_->code;
  const int rc = pre_tokenizer_.uses_jit_
                     ? pcre2_jit_match(code, subject, text_.size(), offset_, 0, state_->match_data,
                                       state_->match_context)
                     : pcre2_match(code, subject, text_.size(), offset_, PCRE2_NO_UTF_CHECK,
                                   state_->match_data, state_->match_context);
  if (rc == PCRE2_ERROR_NOMATCH) {
    *piece = text_.substr(offset_);
    offset_ = text_.size();
    return true;
  }
  if (rc < 0) {
    throw TokenizerError("PCRE2 matching failed at offset " + std::to_string(offset_) + ": " +
                         Pcre2ErrorText(rc));
  }
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state_->match_data);
  const size_t begin = ovector[0];
  const size_t end = ovector[1];
  if (end == begin) {
    // Every alternative of the pattern consumes at least one character.
    throw TokenizerError("PCRE2 returned an empty pre-tokenizer match at offset " +
                         std::to_string(begin));
  }
  if (begin > offset_) {
    // Text the regex skipped is a piece of its own, before the match.
    *piece = text_.substr(offset_, begin - offset_);
    pending_match_begin_ = begin;
    pending_match_end_ = end;
    has_pending_match_ = true;
    offset_ = begin;
    return true;
  }
  *piece = text_.substr(begin, end - begin);
  offset_ = end;
  return true;
}

std::vector<std::string> PreTokenizer::Split(std::string_view text) const {
  Splitter splitter(*this);
  splitter.Reset(text);
  std::vector<std::string> pieces;
  std::string_view piece;
  while (splitter.Next(&piece)) pieces.emplace_back(piece);
  return pieces;
}

}  // namespace bagel::tokenizer
