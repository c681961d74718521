// Reading and writing image files for bagel-infer, through the training pipeline's codecs
// (imaging/image_decode.h, imaging/image_encode.h), so an image reaches inference with exactly
// the pixels it would have in training.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace bagel {

// Any image the data pipeline reads -> [H, W, 3] uint8 RGB, as PIL's Image.open + BAGEL's
// pil_img2rgb give it (grey expanded, alpha composited onto white). c10::Error naming the file
// when it cannot be read.
at::Tensor ReadImageRgb(const std::string& path);

// Writes [H, W, 3] uint8 as PNG; c10::Error naming the file on failure.
void WritePng(const std::string& path, const at::Tensor& image);

}  // namespace bagel
