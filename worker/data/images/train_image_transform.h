// The training image transform of BAGEL.md §3.3 (the official ImageTransform): the size rule of
// MaxLongEdgeMinShortEdgeResize (bagel::ResizedSize, shared with inference: Python's
// half-to-even rounding, multiples of the stride, max_pixels / img_num, the longest side capped),
// then Pillow's antialiased bicubic resize reproduced exactly (pil_bicubic_resize.h), then
// ToTensor + Normalize(0.5, 0.5) in float32: x = (v / 255 - 0.5) / 0.5, in [-1, 1].
#pragma once

#include <ATen/ATen.h>

#include "model/inference/image_transform.h"
#include "worker/data/images/rgb_image.h"

namespace bagel::data {

class TrainImageTransform {
 public:
  explicit TrainImageTransform(ResizeRule rule);

  const ResizeRule& rule() const { return rule_; }
  int64_t stride() const { return rule_.stride; }

  // The (height, width) an image of this size is resized to.
  std::pair<int64_t, int64_t> OutputSize(int64_t height, int64_t width, int img_num = 1) const;

  // [3, h, w] float32 in [-1, 1]; img_num divides max_pixels (VLM samples with several images).
  at::Tensor operator()(const RgbImage& image, int img_num = 1) const;

 private:
  ResizeRule rule_;
};

// ToTensor + Normalize(0.5, 0.5) of 8-bit RGB pixels: [3, H, W] float32.
at::Tensor NormalizedTensor(const RgbImage& image);

}  // namespace bagel::data
