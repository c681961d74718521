// Unicode NFC normalisation (utf8proc), the first step of Qwen2's tokenizer.
//
// Most text is already NFC and is returned untouched without copying: a code point is "NFC-inert"
// when it survives normalisation whatever precedes or follows it, and nothing before it can reach
// past it (no canonical reordering, no composition with a neighbour, no decomposition that does
// not recompose to itself). ASCII, CJK, Hangul syllables, Cyrillic and precomposed Latin letters
// are inert; combining marks, conjoining Hangul jamo and composition-excluded characters are not.
// Only each run of non-inert code points, with the inert one before it, goes through utf8proc.
#pragma once

#include <string>
#include <string_view>

namespace bagel::tokenizer {

// NFC(text): a view of `text` itself when it is already NFC by the fast check, else a view of
// *storage, which then holds the normalised text. Throws TokenizerError naming the byte offset
// when `text` is not well-formed UTF-8.
std::string_view NormalizeNfc(std::string_view text, std::string* storage);

// Whether `code_point` is NFC-inert (see above); false for surrogates and values past U+10FFFF.
bool IsNfcInert(char32_t code_point);

}  // namespace bagel::tokenizer
