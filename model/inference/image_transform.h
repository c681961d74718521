// The inference image transforms of BAGEL.md §3.3 (the official ImageTransform with its
// MaxLongEdgeMinShortEdgeResize): pick a size whose longest side is at most max_size and
// shortest at least min_size, both multiples of stride (rounding with Python's round(), half to
// even), capped at max_pixels / img_num pixels; resize bicubically with antialiasing; scale to
// [-1, 1]. Defaults: VAE 1024 / 512 / 16, ViT 980 / 224 / 14 (the notebook's and the app's).
//
// The resize runs on float pixels with PIL's antialiased bicubic filter (a = -0.5, support
// scaled by the reduction) and rounds back to 8 bits, so it matches PIL to about one grey level.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <utility>

namespace bagel {

struct ResizeRule {
  int64_t max_size = 1024;
  int64_t min_size = 512;
  int64_t stride = 16;
  int64_t max_pixels = 14 * 14 * 9 * 1024;
};

inline constexpr ResizeRule kVaeImageResize{1024, 512, 16, 14 * 14 * 9 * 1024};
inline constexpr ResizeRule kVitImageResize{980, 224, 14, 14 * 14 * 9 * 1024};

// Python's round() of a double: to the nearest integer, ties to even.
int64_t RoundHalfEven(double value);

// The (height, width) MaxLongEdgeMinShortEdgeResize chooses for an image of that size.
std::pair<int64_t, int64_t> ResizedSize(int64_t height, int64_t width, const ResizeRule& rule,
                                        int img_num = 1);

// image [H, W, 3] uint8 -> [height, width, 3] uint8 (PIL-style antialiased bicubic); the image
// itself when the size is unchanged.
at::Tensor ResizeBicubic(const at::Tensor& image, int64_t height, int64_t width);

// [H, W, 3] uint8 -> [3, H, W] float32 in [-1, 1] (ToTensor, then Normalize(0.5, 0.5)).
at::Tensor ToNormalizedTensor(const at::Tensor& image);

// Resize by `rule` (ResizedSize + ResizeBicubic): [H, W, 3] uint8 -> [h, w, 3] uint8.
at::Tensor ResizeForRule(const at::Tensor& image, const ResizeRule& rule, int img_num = 1);

// The whole transform: [H, W, 3] uint8 -> [3, h, w] float32 in [-1, 1].
at::Tensor ApplyImageTransform(const at::Tensor& image, const ResizeRule& rule, int img_num = 1);

}  // namespace bagel
