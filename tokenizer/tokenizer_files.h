// Reads a checkpoint's tokenizer files into a TokenizerDefinition. Two layouts are accepted:
//
//  - HF's single tokenizer.json: model.vocab (spelling -> id), model.merges ("a b" strings or
//    [a, b] pairs, in rank order) and added_tokens ({id, content, special, ...}). Only the BPE
//    model and the added tokens are read; the normaliser, pre-tokenizer and decoder are taken to
//    be Qwen2's (NFC, the Qwen2 split regex, byte-level).
//  - vocab.json + merges.txt (optional "#version" first line, then "a b" per line), with the added
//    tokens from added_tokens.json (content -> id) and/or tokenizer_config.json's
//    added_tokens_decoder, when present.
//
// Errors: TokenizerError naming the file and the field, entry or line at fault (a missing file,
// invalid JSON, a wrong type, a malformed merge line, features this tokenizer does not implement
// such as byte_fallback or lstrip/rstrip added tokens, and added tokens the two files disagree on).
#pragma once

#include <filesystem>

#include "tokenizer/tokenizer_definition.h"

namespace bagel::tokenizer {

// DIR/tokenizer.json when it exists, else DIR/vocab.json + DIR/merges.txt (+ the added-token
// files that exist).
TokenizerDefinition ReadTokenizerDirectory(const std::filesystem::path& dir);

TokenizerDefinition ReadTokenizerJson(const std::filesystem::path& tokenizer_json);

// vocab.json + merges.txt only (no added tokens).
TokenizerDefinition ReadVocabAndMerges(const std::filesystem::path& vocab_json,
                                       const std::filesystem::path& merges_txt);

// Appends the tokens of added_tokens.json ({"<|im_start|>": 151644, ...}) to definition.
void ReadAddedTokensJson(const std::filesystem::path& added_tokens_json,
                         TokenizerDefinition* definition);

// Appends the tokens of tokenizer_config.json's "added_tokens_decoder" ({"151644": {"content":
// ..., "special": true, ...}}); a file without that field adds nothing.
void ReadTokenizerConfigAddedTokens(const std::filesystem::path& tokenizer_config_json,
                                    TokenizerDefinition* definition);

}  // namespace bagel::tokenizer
