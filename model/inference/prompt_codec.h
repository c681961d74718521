// How prompts become token ids (and answers text) for one model: the checkpoint's Qwen2 tokenizer
// when it carries one (tokenizer.json, or vocab.json + merges.txt), else -- for the generated
// test models, whose vocabulary has at most 256 rows -- the byte vocabulary the demo data uses:
// UTF-8 bytes as ids (a byte >= 252 becomes 251) with <|im_start|>, <|im_end|>, <|vision_start|>,
// <|vision_end|> at 252..255.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/config/bagel_config.h"
#include "model/inference/inference_context.h"

namespace bagel {

class PromptCodec {
 public:
  // The tokenizer in `tokenizer_dir` (empty: none), else the byte vocabulary when the model's has
  // at most 256 rows; otherwise an error saying a tokenizer is needed, naming the directory.
  static PromptCodec ForModel(const BagelConfig& config, const std::string& tokenizer_dir);
  // True when DIR holds tokenizer files.
  static bool HasTokenizer(const std::string& dir);

  ~PromptCodec();
  PromptCodec(PromptCodec&&) noexcept;
  PromptCodec& operator=(PromptCodec&&) noexcept;

  std::vector<int64_t> Encode(std::string_view text) const;
  // The text of ids; special tokens are left out.
  std::string Decode(const std::vector<int64_t>& ids) const;
  const SpecialTokens& special_tokens() const { return special_; }
  // "tokenizer DIR" or "byte vocabulary".
  const std::string& description() const { return description_; }

 private:
  PromptCodec() = default;
  struct Tokenizer;
  std::unique_ptr<Tokenizer> tokenizer_;  // null: byte vocabulary
  SpecialTokens special_;
  std::string description_;
};

}  // namespace bagel
