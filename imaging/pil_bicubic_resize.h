// Pillow's Image.resize(size, Image.BICUBIC) on an 8-bit RGB image, reproduced operation for
// operation so that the result is the same bytes: the convolution filter (bicubic, a = -0.5,
// support 2, widened by the reduction factor when shrinking, which is PIL's antialiasing), the
// per-output-pixel weights normalised in double precision and rounded to 22-bit fixed point,
// a horizontal pass (only over the rows the vertical pass reads) then a vertical pass, each
// rounding and clipping to 8 bits. torchvision's F.resize(pil_image, ..., BICUBIC,
// antialias=True), which BAGEL's transforms call, is exactly this call.
#pragma once

#include <cstdint>

#include "imaging/rgb_image.h"

namespace bagel::imaging {

// Resizes `image` to height x width (both > 0); returns a copy when the size is unchanged.
RgbImage ResizeBicubicLikePil(const RgbImage& image, int64_t height, int64_t width);

}  // namespace bagel::imaging
