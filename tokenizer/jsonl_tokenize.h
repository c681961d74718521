// The JSON-lines contract of bagel-tokenize (tests/golden/README.md, "Tokenizer"): encoding
// reads one {"text": "..."} object a line and writes {"ids": [...]} a line, in order; decoding
// reads {"ids": [...]} and writes {"text": "..."}. Other fields of an input object are ignored.
#pragma once

#include <cstddef>
#include <istream>
#include <ostream>
#include <string_view>

#include "tokenizer/qwen2_tokenizer.h"

namespace bagel::tokenizer {

enum class JsonLinesDirection { kEncode, kDecode };

// Converts every line of `in`, writing each result line to `out` as soon as it is ready, and
// returns the number of lines. On bad input throws TokenizerError
// "<input_name>:<line>: <what>" naming the field at fault (lines before it are already written):
// a blank line, invalid JSON, not an object, a missing or mistyped "text"/"ids", an id that no
// token has.
size_t ConvertJsonLines(const Qwen2Tokenizer& tokenizer, JsonLinesDirection direction,
                        std::istream& in, std::string_view input_name, std::ostream& out);

}  // namespace bagel::tokenizer
