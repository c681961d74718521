// An 8-bit RGB image in row-major, interleaved layout (the pixels a decoded PIL "RGB" image
// holds): the currency of the data pipeline's decoding and resizing, kept free of LibTorch so
// that image code is cheap to compile and to call from loader threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bagel::imaging {

struct RgbImage {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]

  RgbImage() = default;
  RgbImage(int64_t h, int64_t w) : height(h), width(w), pixels(static_cast<size_t>(h * w * 3)) {}
  uint8_t* row(int64_t y) { return pixels.data() + y * width * 3; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * 3; }
};

}  // namespace bagel::imaging
