// GPT-2's byte-level alphabet: a bijection between the 256 byte values and 256 printable Unicode
// code points, in which a byte-level BPE vocabulary (vocab.json, merges.txt) spells its tokens.
// Bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for themselves; the other 68 bytes map,
// in increasing order, to U+0100, U+0101, ... (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bagel::tokenizer {

// The code point that spells `byte`.
char32_t ByteToAlphabetCodePoint(uint8_t byte);

// The byte a code point spells, or nullopt when `code_point` is not in the alphabet.
std::optional<uint8_t> AlphabetCodePointToByte(char32_t code_point);

// Spells raw bytes in the alphabet (UTF-8 encoded result).
std::string BytesToAlphabetText(std::string_view bytes);

// The raw bytes that UTF-8 `alphabet_text` spells; nullopt when it is not valid UTF-8 or holds a
// code point outside the alphabet.
std::optional<std::string> AlphabetTextToBytes(std::string_view alphabet_text);

}  // namespace bagel::tokenizer
