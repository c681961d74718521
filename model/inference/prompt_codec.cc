#include "model/inference/prompt_codec.h"

#include <c10/util/Exception.h>

#include <filesystem>

#include "tokenizer/qwen2_tokenizer.h"

namespace bagel {
namespace {

constexpr int64_t kByteVocabularyRows = 256;
constexpr int64_t kFirstByteSpecial = 252;

}  // namespace

struct PromptCodec::Tokenizer {
  tokenizer::Qwen2Tokenizer qwen2;
};

PromptCodec::~PromptCodec() = default;
PromptCodec::PromptCodec(PromptCodec&&) noexcept = default;
PromptCodec& PromptCodec::operator=(PromptCodec&&) noexcept = default;

bool PromptCodec::HasTokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  if (dir.empty()) return false;
  return fs::exists(fs::path(dir) / "tokenizer.json") ||
         (fs::exists(fs::path(dir) / "vocab.json") && fs::exists(fs::path(dir) / "merges.txt"));
}

PromptCodec PromptCodec::ForModel(const BagelConfig& config, const std::string& tokenizer_dir) {
  PromptCodec codec;
  if (HasTokenizer(tokenizer_dir)) {
    codec.tokenizer_ = std::make_unique<Tokenizer>(
        Tokenizer{tokenizer::Qwen2Tokenizer::FromDirectory(tokenizer_dir)});
    const auto s = codec.tokenizer_->qwen2.BagelSpecialTokens();
    codec.special_ = {s.im_start, s.im_end, s.vision_start, s.vision_end};
    TORCH_CHECK(codec.tokenizer_->qwen2.id_limit() <= config.llm.vocab_size, "tokenizer ",
                tokenizer_dir, ": ids reach ", codec.tokenizer_->qwen2.id_limit() - 1,
                " but the model's vocabulary has ", config.llm.vocab_size, " rows");
    codec.description_ = "tokenizer " + tokenizer_dir;
    return codec;
  }
  TORCH_CHECK(config.llm.vocab_size <= kByteVocabularyRows,
              "no tokenizer files (tokenizer.json, or vocab.json + merges.txt) in '", tokenizer_dir,
              "': a model with ", config.llm.vocab_size,
              " vocabulary rows needs its tokenizer to read text prompts");
  TORCH_CHECK(config.llm.vocab_size == kByteVocabularyRows,
              "the byte vocabulary needs 256 rows, the model has ", config.llm.vocab_size);
  codec.special_ = {kFirstByteSpecial, kFirstByteSpecial + 1, kFirstByteSpecial + 2,
                    kFirstByteSpecial + 3};
  codec.description_ = "byte vocabulary";
  return codec;
}

std::vector<int64_t> PromptCodec::Encode(std::string_view text) const {
  std::vector<int64_t> ids;
  if (tokenizer_) {
    for (auto id : tokenizer_->qwen2.Encode(text)) ids.push_back(static_cast<int64_t>(id));
    return ids;
  }
  ids.reserve(text.size());
  for (unsigned char byte : text) ids.push_back(std::min<int64_t>(byte, kFirstByteSpecial - 1));
  return ids;
}

std::string PromptCodec::Decode(const std::vector<int64_t>& ids) const {
  const auto is_special = [&](int64_t id) {
    return id == special_.bos || id == special_.eos || id == special_.start_of_image ||
           id == special_.end_of_image;
  };
  if (tokenizer_) {
    // The model may have more rows than the tokenizer has ids (BAGEL-7B: 152,064 rows, 151,665
    // ids); a sampled id beyond the tokenizer has no text and is left out.
    const int64_t limit = static_cast<int64_t>(tokenizer_->qwen2.id_limit());
    std::vector<tokenizer::TokenId> kept;
    for (int64_t id : ids) {
      if (!is_special(id) && id >= 0 && id < limit)
        kept.push_back(static_cast<tokenizer::TokenId>(id));
    }
    return tokenizer_->qwen2.Decode(kept);
  }
  std::string text;
  for (int64_t id : ids) {
    if (!is_special(id) && id >= 0 && id < kFirstByteSpecial) text.push_back(static_cast<char>(id));
  }
  return text;
}

}  // namespace bagel
