// Writes a TokenizerDefinition in the layout a BAGEL / Qwen2 checkpoint ships its tokenizer:
// vocab.json (spelling -> id, in id order), merges.txt ("#version: 0.2", then "left right" per
// line in rank order) and added_tokens.json (content -> id), which Hugging Face's Qwen2Tokenizer
// and this project's reader (tokenizer_files.h) both load.
#pragma once

#include <filesystem>

#include "tokenizer/tokenizer_definition.h"

namespace bagel::tokenizer {

// Creates `dir` when needed; throws TokenizerError naming the file on an I/O error.
void WriteTokenizerDirectory(const TokenizerDefinition& definition,
                             const std::filesystem::path& dir);

}  // namespace bagel::tokenizer
