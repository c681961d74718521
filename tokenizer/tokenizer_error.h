// The one exception type of the tokenizer: every failure to read tokenizer files, to build a
// tokenizer from them, or to encode/decode an input. The message names the file (and the field or
// line) or the input position at fault, so callers can print it as is.
#pragma once

#include <stdexcept>
#include <string>

namespace bagel::tokenizer {

class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bagel::tokenizer
