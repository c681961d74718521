// The size rule of the official image transform (docs/MODEL.md §3.3,
// MaxLongEdgeMinShortEdgeResize): a size whose longest side is at most max_size and shortest at
// least min_size, both multiples of stride (rounded with Python's round(), half to even), capped at
// max_pixels / img_num pixels. Training and inference share it. Defaults: VAE 1024 / 512 / 16, ViT
// 980 / 224 / 14 (the notebook's and the app's).
#pragma once

#include <cstdint>
#include <utility>

namespace bagel::imaging {

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

// Throws std::invalid_argument naming the fields unless the rule's sizes are positive and
// max_size >= stride.
void CheckResizeRule(const ResizeRule& rule);

// The (height, width) the rule chooses for an image of that size; std::invalid_argument for an
// empty image or img_num < 1.
std::pair<int64_t, int64_t> ResizedSize(int64_t height, int64_t width, const ResizeRule& rule,
                                        int img_num = 1);

}  // namespace bagel::imaging
