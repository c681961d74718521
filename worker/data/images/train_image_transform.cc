#include "worker/data/images/train_image_transform.h"

#include <c10/util/Exception.h>

#include <array>

#include "worker/data/images/pil_bicubic_resize.h"

namespace bagel::data {

TrainImageTransform::TrainImageTransform(ResizeRule rule) : rule_(rule) {
  TORCH_CHECK(
      rule.stride > 0 && rule.max_size >= rule.stride && rule.min_size > 0 && rule.max_pixels > 0,
      "image transform: max_size ", rule.max_size, ", min_size ", rule.min_size, ", stride ",
      rule.stride, ", max_pixels ", rule.max_pixels, " must be positive with max_size >= stride");
}

std::pair<int64_t, int64_t> TrainImageTransform::OutputSize(int64_t height, int64_t width,
                                                            int img_num) const {
  return ResizedSize(height, width, rule_, img_num);
}

at::Tensor TrainImageTransform::operator()(const RgbImage& image, int img_num) const {
  const auto [h, w] = OutputSize(image.height, image.width, img_num);
  if (h == image.height && w == image.width) return NormalizedTensor(image);
  return NormalizedTensor(ResizeBicubicLikePil(image, h, w));
}

at::Tensor NormalizedTensor(const RgbImage& image) {
  // torchvision: ToTensor divides by 255 in float32, Normalize subtracts 0.5 and divides by 0.5.
  std::array<float, 256> lut;
  for (int v = 0; v < 256; ++v) lut[v] = (static_cast<float>(v) / 255.0f - 0.5f) / 0.5f;
  at::Tensor out = at::empty({3, image.height, image.width}, at::kFloat);
  float* o = out.data_ptr<float>();
  const int64_t plane = image.height * image.width;
  const uint8_t* p = image.pixels.data();
  for (int64_t i = 0; i < plane; ++i) {
    o[i] = lut[p[3 * i]];
    o[plane + i] = lut[p[3 * i + 1]];
    o[2 * plane + i] = lut[p[3 * i + 2]];
  }
  return out;
}

}  // namespace bagel::data
