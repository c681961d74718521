// What a byte-level BPE tokenizer is made of, as read from a checkpoint's files
// (tokenizer_files.h) and before it is validated and indexed (bpe_model.h): the vocabulary spelled
// in the byte-level alphabet, the merges in rank order and the added (special) tokens, each with
// where it came from so that errors can name the file and the entry.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/token_id.h"

namespace bagel::tokenizer {

struct AddedTokenSpec {
  std::string content;  // the literal text matched in raw input and written back on decode
  TokenId id = 0;
  bool special = true;
  std::string origin;  // e.g. "/ckpt/added_tokens.json: \"<|im_start|>\""
};

// Names merge number `rank` as "<prefix><first_index + rank><suffix>", e.g.
// "/ckpt/merges.txt:" + line, or "/ckpt/tokenizer.json: model.merges[" + index + "]".
struct MergeOrigin {
  std::string prefix;
  size_t first_index = 0;
  std::string suffix;

  std::string Describe(size_t rank) const {
    return prefix + std::to_string(first_index + rank) + suffix;
  }
};

struct TokenizerDefinition {
  // (spelling in the byte-level alphabet, id); an id is also the token's rank.
  std::vector<std::pair<std::string, TokenId>> vocab;
  // (left, right) spellings, lowest rank (first to apply) first.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<AddedTokenSpec> added_tokens;
  // tokenizer.json's model.ignore_merges: a piece that is itself a token is not merged.
  bool ignore_merges = false;

  std::string vocab_origin;  // e.g. "/ckpt/vocab.json"
  MergeOrigin merge_origin;
};

}  // namespace bagel::tokenizer
