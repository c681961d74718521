#include "imaging/image_encode.h"

#include <stdexcept>

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace bagel::imaging {
namespace {

void Append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

void Check(int ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("image encoding failed: ") + what);
}

}  // namespace

std::string EncodePng(const RgbImage& image) {
  std::string out;
  Check(stbi_write_png_to_func(Append, &out, static_cast<int>(image.width),
                               static_cast<int>(image.height), 3, image.pixels.data(),
                               static_cast<int>(image.width * 3)),
        "PNG");
  return out;
}

std::string EncodePngRgba(const std::vector<uint8_t>& rgba, int64_t height, int64_t width) {
  std::string out;
  Check(stbi_write_png_to_func(Append, &out, static_cast<int>(width), static_cast<int>(height), 4,
                               rgba.data(), static_cast<int>(width * 4)),
        "PNG");
  return out;
}

std::string EncodeJpeg(const RgbImage& image, int quality) {
  std::string out;
  Check(stbi_write_jpg_to_func(Append, &out, static_cast<int>(image.width),
                               static_cast<int>(image.height), 3, image.pixels.data(), quality),
        "JPEG");
  return out;
}

}  // namespace bagel::imaging
