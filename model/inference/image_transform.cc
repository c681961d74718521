#include "model/inference/image_transform.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace bagel {
namespace {

// _make_divisible: max(stride, round(value / stride) * stride).
int64_t Divisible(int64_t value, int64_t stride) {
  return std::max(stride, RoundHalfEven(static_cast<double>(value) / stride) * stride);
}

// _apply_scale on (width, height).
std::pair<int64_t, int64_t> ApplyScale(int64_t width, int64_t height, double scale,
                                       int64_t stride) {
  return {Divisible(RoundHalfEven(width * scale), stride),
          Divisible(RoundHalfEven(height * scale), stride)};
}

void CheckImage(const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == at::kByte,
              "expected an RGB image [H, W, 3] uint8, got ", image.sizes(), " ",
              image.scalar_type());
  TORCH_CHECK(image.size(0) > 0 && image.size(1) > 0, "the image is empty");
}

}  // namespace

int64_t RoundHalfEven(double value) {
  // nearbyint rounds in the current mode, which is to-nearest-even unless changed.
  return static_cast<int64_t>(std::nearbyint(value));
}

std::pair<int64_t, int64_t> ResizedSize(int64_t height, int64_t width, const ResizeRule& r,
                                        int img_num) {
  TORCH_CHECK(height > 0 && width > 0, "image size ", height, "x", width, " is empty");
  TORCH_CHECK(img_num >= 1, "img_num must be positive, got ", img_num);
  double scale = std::min(static_cast<double>(r.max_size) / std::max(width, height), 1.0);
  scale = std::max(scale, static_cast<double>(r.min_size) / std::min(width, height));
  auto [w, h] = ApplyScale(width, height, scale, r.stride);
  const double budget = static_cast<double>(r.max_pixels) / img_num;
  if (static_cast<double>(w * h) > budget) {
    std::tie(w, h) = ApplyScale(w, h, budget / static_cast<double>(w * h), r.stride);
  }
  if (std::max(w, h) > r.max_size) {
    std::tie(w, h) = ApplyScale(w, h, static_cast<double>(r.max_size) / std::max(w, h), r.stride);
  }
  return {h, w};
}

at::Tensor ResizeBicubic(const at::Tensor& image, int64_t height, int64_t width) {
  CheckImage(image);
  if (image.size(0) == height && image.size(1) == width) return image;
  at::Tensor x = image.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat);  // [1, 3, H, W]
  at::Tensor y = at::_upsample_bicubic2d_aa(x, {height, width}, /*align_corners=*/false);
  return y.round().clamp(0, 255).to(at::kByte)[0].permute({1, 2, 0}).contiguous();
}

at::Tensor ToNormalizedTensor(const at::Tensor& image) {
  CheckImage(image);
  at::Tensor x = image.permute({2, 0, 1}).to(at::kFloat) / 255.0;
  return ((x - 0.5) / 0.5).contiguous();
}

at::Tensor ResizeForRule(const at::Tensor& image, const ResizeRule& rule, int img_num) {
  CheckImage(image);
  const auto [h, w] = ResizedSize(image.size(0), image.size(1), rule, img_num);
  return ResizeBicubic(image, h, w);
}

at::Tensor ApplyImageTransform(const at::Tensor& image, const ResizeRule& rule, int img_num) {
  return ToNormalizedTensor(ResizeForRule(image, rule, img_num));
}

}  // namespace bagel
