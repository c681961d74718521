// The integer type of a token id (Qwen2's 151,665 ids fit comfortably).
#pragma once

#include <cstdint>

namespace bagel::tokenizer {

using TokenId = int32_t;

}  // namespace bagel::tokenizer
