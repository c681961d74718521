#include "imaging/resize_rule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <tuple>

namespace bagel::imaging {
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

}  // namespace

int64_t RoundHalfEven(double value) {
  // nearbyint rounds in the current mode, which is to-nearest-even unless changed.
  return static_cast<int64_t>(std::nearbyint(value));
}

void CheckResizeRule(const ResizeRule& r) {
  if (r.stride > 0 && r.max_size >= r.stride && r.min_size > 0 && r.max_pixels > 0) return;
  throw std::invalid_argument(
      "image transform: max_size " + std::to_string(r.max_size) + ", min_size " +
      std::to_string(r.min_size) + ", stride " + std::to_string(r.stride) + ", max_pixels " +
      std::to_string(r.max_pixels) + " must be positive with max_size >= stride");
}

std::pair<int64_t, int64_t> ResizedSize(int64_t height, int64_t width, const ResizeRule& r,
                                        int img_num) {
  if (height <= 0 || width <= 0) {
    throw std::invalid_argument("image size " + std::to_string(height) + "x" +
                                std::to_string(width) + " is empty");
  }
  if (img_num < 1) {
    throw std::invalid_argument("img_num must be positive, got " + std::to_string(img_num));
  }
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

}  // namespace bagel::imaging
