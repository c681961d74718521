// Decodes an image file into the RGB pixels the official data pipeline trains on: PIL's
// Image.open followed by BAGEL's pil_img2rgb (BAGEL.md §3.3). JPEG is decoded by libjpeg(-turbo)
// with its defaults (accurate integer IDCT, fancy upsampling), which is what Pillow does, and
// PNG by libpng, so pixels equal Pillow's (docs/DATA.md has the measurement). Other formats
// (BMP, GIF, TGA, ...) go through stb_image.
//
// Colour handling as PIL + pil_img2rgb: greyscale is replicated to RGB; images with an alpha
// channel (RGBA, or a palette / grey / RGB PNG with a tRNS transparency chunk) are composited on
// white with PIL's rounding (out = (255 (255 - a) + c a) / 255, PIL's DIV255); grey+alpha PNGs
// ("LA" in PIL) only drop their alpha, as convert("RGB") does; 16-bit samples keep their high
// byte; CMYK JPEGs (Adobe-inverted or not) are converted with PIL's formula. EXIF orientation is
// not applied (PIL's Image.open does not apply it either). A truncated JPEG decodes as far as
// its data goes, as with PIL's LOAD_TRUNCATED_IMAGES, which the official VLM and edit datasets
// set.
//
// Errors: throws ImageDecodeError naming `what` (a file name, or "file.parquet row 7") and the
// decoder's message for anything that is not a decodable image.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "imaging/rgb_image.h"

namespace bagel::imaging {

class ImageDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Largest accepted image, in pixels (PIL's MAX_IMAGE_PIXELS of the VLM and edit datasets).
inline constexpr int64_t kMaxImagePixels = 200'000'000;

RgbImage DecodeImage(std::string_view bytes, const std::string& what);

// Reads and decodes a file; a missing or unreadable file is an ImageDecodeError too.
RgbImage DecodeImageFile(const std::string& path);

}  // namespace bagel::imaging
