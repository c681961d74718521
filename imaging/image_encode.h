// Encodes RGB pixels as PNG or JPEG bytes (stb_image_write), for the dataset generator and the
// tests. An alpha variant writes RGBA PNGs, to exercise the composite-on-white rule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imaging/rgb_image.h"

namespace bagel::imaging {

std::string EncodePng(const RgbImage& image);
// rgba: [h, w, 4] bytes.
std::string EncodePngRgba(const std::vector<uint8_t>& rgba, int64_t height, int64_t width);
std::string EncodeJpeg(const RgbImage& image, int quality = 90);

}  // namespace bagel::imaging
