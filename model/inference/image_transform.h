// The official image transform (docs/MODEL.md §3.3; the official ImageTransform), one pipeline for
// training and inference: the size rule of MaxLongEdgeMinShortEdgeResize (imaging/resize_rule.h),
// Pillow's antialiased bicubic resize reproduced exactly (imaging/pil_bicubic_resize.h), then
// ToTensor + Normalize(0.5, 0.5) in float32: x = (v / 255 - 0.5) / 0.5, in [-1, 1].
//
// Images are imaging::RgbImage (decoded by imaging/image_decode.h, as PIL + pil_img2rgb do);
// bagel-infer's [H, W, 3] uint8 tensors go through the same code.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <utility>

#include "imaging/resize_rule.h"
#include "imaging/rgb_image.h"

namespace bagel {

using imaging::kVaeImageResize;
using imaging::kVitImageResize;
using imaging::ResizeRule;
using imaging::RoundHalfEven;

// imaging::ResizedSize, with a c10::Error (not std::invalid_argument) for an empty image.
std::pair<int64_t, int64_t> CheckedResizedSize(int64_t height, int64_t width,
                                               const ResizeRule& rule, int img_num = 1);

class ImageTransform {
 public:
  // c10::Error naming the fields for a rule that cannot give a size.
  explicit ImageTransform(ResizeRule rule);

  const ResizeRule& rule() const { return rule_; }
  int64_t stride() const { return rule_.stride; }

  // The (height, width) an image of this size is resized to.
  std::pair<int64_t, int64_t> OutputSize(int64_t height, int64_t width, int img_num = 1) const;

  // [3, h, w] float32 in [-1, 1]; img_num divides max_pixels (VLM samples with several images).
  at::Tensor operator()(const imaging::RgbImage& image, int img_num = 1) const;

 private:
  ResizeRule rule_;
};

// ToTensor + Normalize(0.5, 0.5) of 8-bit RGB pixels: [3, H, W] float32.
at::Tensor NormalizedTensor(const imaging::RgbImage& image);

// [H, W, 3] uint8 tensors <-> RgbImage.
imaging::RgbImage RgbImageOf(const at::Tensor& image);
at::Tensor TensorOf(const imaging::RgbImage& image);

// image [H, W, 3] uint8 -> [height, width, 3] uint8, Pillow's antialiased bicubic exactly; the
// image itself when the size is unchanged.
at::Tensor ResizeBicubic(const at::Tensor& image, int64_t height, int64_t width);

// [H, W, 3] uint8 -> [3, H, W] float32 in [-1, 1] (ToTensor, then Normalize(0.5, 0.5)).
at::Tensor ToNormalizedTensor(const at::Tensor& image);

// Resize by `rule` (ResizedSize + ResizeBicubic): [H, W, 3] uint8 -> [h, w, 3] uint8.
at::Tensor ResizeForRule(const at::Tensor& image, const ResizeRule& rule, int img_num = 1);

// The whole transform: [H, W, 3] uint8 -> [3, h, w] float32 in [-1, 1].
at::Tensor ApplyImageTransform(const at::Tensor& image, const ResizeRule& rule, int img_num = 1);

}  // namespace bagel
