// Reading and writing image files for bagel-infer (stb_image / stb_image_write).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace bagel {

// Reads PNG, JPEG, BMP, GIF (first frame), TGA, PSD, HDR or PNM -> [H, W, 3] uint8 RGB. Grey
// images are expanded; images with alpha are composited onto white, as the official pil_img2rgb
// does. Throws naming the file when it cannot be read.
at::Tensor ReadImageRgb(const std::string& path);

// Writes [H, W, 3] uint8 as PNG; throws naming the file on failure.
void WritePng(const std::string& path, const at::Tensor& image);

}  // namespace bagel
