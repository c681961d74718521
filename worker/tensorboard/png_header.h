// The size and colour channels of a PNG image, from its IHDR chunk (the first chunk of every
// PNG): what TensorBoard's image summary records beside the encoded bytes, read without decoding.
#pragma once

#include <optional>
#include <string_view>

namespace bagel::tensorboard {

struct PngHeader {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 grey, 2 grey + alpha, 3 RGB (palette too), 4 RGBA
};

// nullopt unless `bytes` starts with the PNG signature and a well-formed IHDR.
std::optional<PngHeader> ReadPngHeader(std::string_view bytes);

}  // namespace bagel::tensorboard
