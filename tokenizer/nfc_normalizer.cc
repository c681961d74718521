#include "tokenizer/nfc_normalizer.h"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tokenizer/tokenizer_error.h"
#include "tokenizer/utf8.h"

namespace bagel::tokenizer {
namespace {

constexpr char32_t kCodeSpaceEnd = 0x110000;

// One bit per code point, computed once from utf8proc's tables (a few milliseconds).
class InertCodePoints {
 public:
  InertCodePoints() : bits_(kCodeSpaceEnd / 64, 0) {
    // Code points that follow another inside some canonical decomposition: the composition
    // "seconds" (combining marks, Hangul V/T jamo, a few spacing vowel signs) and more.
    std::vector<bool> follows_in_decomposition(kCodeSpaceEnd, false);
    for (char32_t cp = 0; cp < kCodeSpaceEnd; ++cp) {
      Decomposition d = CanonicalDecomposition(cp);
      for (int i = 1; i < d.length; ++i) follows_in_decomposition[d.code_points[i]] = true;
    }
    for (char32_t cp = 0; cp < kCodeSpaceEnd; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      if (follows_in_decomposition[cp] || CombiningClass(cp) != 0) continue;
      Decomposition d = CanonicalDecomposition(cp);
      if (d.length != 1 || d.code_points[0] != static_cast<utf8proc_int32_t>(cp)) {
        const auto first = static_cast<char32_t>(d.code_points[0]);
        if (CombiningClass(first) != 0 || follows_in_decomposition[first]) continue;
        if (!RecomposesTo(d, cp)) continue;
      }
      bits_[cp / 64] |= uint64_t{1} << (cp % 64);
    }
  }

  bool Contains(char32_t cp) const {
    return cp < kCodeSpaceEnd && ((bits_[cp / 64] >> (cp % 64)) & 1u) != 0;
  }

 private:
  struct Decomposition {
    utf8proc_int32_t code_points[8];
    int length;
  };

  static int CombiningClass(char32_t cp) {
    return utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class;
  }

  static Decomposition CanonicalDecomposition(char32_t cp) {
    Decomposition d{};
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    const auto length = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), d.code_points, 8,
                                                UTF8PROC_DECOMPOSE, &boundclass);
    if (length < 1 || length > 8) {
      d.code_points[0] = static_cast<utf8proc_int32_t>(cp);
      d.length = 1;
    } else {
      d.length = static_cast<int>(length);
    }
    return d;
  }

  static bool RecomposesTo(Decomposition d, char32_t cp) {
    // STABLE makes utf8proc honour the composition exclusions, as NFC does.
    const auto length = utf8proc_normalize_utf32(
        d.code_points, d.length,
        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    return length == 1 && d.code_points[0] == static_cast<utf8proc_int32_t>(cp);
  }

  std::vector<uint64_t> bits_;
};

const InertCodePoints& Inert() {
  static const InertCodePoints* const inert = new InertCodePoints();
  return *inert;
}

bool HasNonAsciiByte(const char* bytes) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return (word & 0x8080808080808080ull) != 0;
}

[[noreturn]] void ThrowInvalidUtf8(size_t offset) {
  throw TokenizerError("text is not valid UTF-8 (ill-formed bytes at offset " +
                       std::to_string(offset) + ")");
}

// Appends utf8proc's NFC of `text` to *out.
void AppendNfc(std::string_view text, std::string* out) {
  utf8proc_uint8_t* normalized = nullptr;
  const auto length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &normalized,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) {
    throw TokenizerError(std::string("NFC normalisation failed: ") + utf8proc_errmsg(length));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(normalized, &std::free);
  out->append(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
}

}  // namespace

bool IsNfcInert(char32_t code_point) { return Inert().Contains(code_point); }

// Only the stretches around non-inert code points go through utf8proc: a maximal run of
// non-inert code points plus the inert one before it (the starter a mark may compose with).
// Normalisation never reaches across an inert code point, so the rest is copied as is.
std::string_view NormalizeNfc(std::string_view text, std::string* storage) {
  constexpr size_t kNone = std::string_view::npos;
  const InertCodePoints* inert = nullptr;
  size_t offset = 0;
  size_t previous_start = kNone;  // where the code point before `offset` starts
  size_t copied = 0;              // text[0, copied) is already in *storage
  bool rewritten = false;
  auto decode = [&](size_t at) {
    auto decoded = DecodeUtf8CodePoint(text, at);
    if (!decoded) ThrowInvalidUtf8(at);
    return *decoded;
  };
  while (offset < text.size()) {
    if (offset + 8 <= text.size() && !HasNonAsciiByte(text.data() + offset)) {
      previous_start = offset + 7;
      offset += 8;
      continue;
    }
    if (static_cast<uint8_t>(text[offset]) < 0x80) {
      previous_start = offset++;
      continue;
    }
    if (inert == nullptr) inert = &Inert();
    const DecodedCodePoint first = decode(offset);
    if (inert->Contains(first.code_point)) {
      previous_start = offset;
      offset += first.length;
      continue;
    }
    const size_t region_begin = previous_start == kNone ? offset : previous_start;
    size_t region_end = offset + first.length;
    while (region_end < text.size() && static_cast<uint8_t>(text[region_end]) >= 0x80) {
      const DecodedCodePoint next = decode(region_end);
      if (inert->Contains(next.code_point)) break;
      region_end += next.length;
    }
    if (!rewritten) {
      storage->clear();
      storage->reserve(text.size() + 16);
      rewritten = true;
    }
    storage->append(text.substr(copied, region_begin - copied));
    AppendNfc(text.substr(region_begin, region_end - region_begin), storage);
    copied = region_end;
    previous_start = kNone;  // the code point at region_end is inert (or the text ended)
    offset = region_end;
  }
  if (!rewritten) return text;
  storage->append(text.substr(copied));
  return *storage;
}

}  // namespace bagel::tokenizer
