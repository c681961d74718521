#include "worker/tensorboard/png_header.h"

#include <cstdint>

namespace bagel::tensorboard {
namespace {

constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);

uint32_t BigEndian32(std::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

}  // namespace

std::optional<PngHeader> ReadPngHeader(std::string_view bytes) {
  // Signature (8), then the IHDR chunk: length 13 (4), "IHDR" (4), width (4), height (4),
  // bit depth (1), colour type (1), ...
  if (bytes.size() < 8 + 8 + 13 || bytes.substr(0, 8) != kSignature) return std::nullopt;
  if (BigEndian32(bytes, 8) != 13 || bytes.substr(12, 4) != "IHDR") return std::nullopt;
  const uint32_t width = BigEndian32(bytes, 16), height = BigEndian32(bytes, 20);
  if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu) return std::nullopt;
  PngHeader header;
  header.width = static_cast<int>(width);
  header.height = static_cast<int>(height);
  switch (static_cast<uint8_t>(bytes[25])) {
    case 0:
      header.channels = 1;
      break;  // grey
    case 2:
      header.channels = 3;
      break;  // RGB
    case 3:
      header.channels = 3;
      break;  // palette: decodes to RGB
    case 4:
      header.channels = 2;
      break;  // grey + alpha
    case 6:
      header.channels = 4;
      break;  // RGBA
    default:
      return std::nullopt;
  }
  return header;
}

}  // namespace bagel::tensorboard
