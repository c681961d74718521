#include "model/inference/image_transform.h"

#include <c10/util/Exception.h>

#include <array>
#include <cstring>
#include <stdexcept>

#include "imaging/pil_bicubic_resize.h"

namespace bagel {
namespace {

void CheckImage(const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == at::kByte,
              "expected an RGB image [H, W, 3] uint8, got ", image.sizes(), " ",
              image.scalar_type());
  TORCH_CHECK(image.size(0) > 0 && image.size(1) > 0, "the image is empty");
}

}  // namespace

std::pair<int64_t, int64_t> CheckedResizedSize(int64_t height, int64_t width,
                                               const ResizeRule& rule, int img_num) {
  try {
    return imaging::ResizedSize(height, width, rule, img_num);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
  }
}

ImageTransform::ImageTransform(ResizeRule rule) : rule_(rule) {
  try {
    imaging::CheckResizeRule(rule);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
  }
}

std::pair<int64_t, int64_t> ImageTransform::OutputSize(int64_t height, int64_t width,
                                                       int img_num) const {
  return CheckedResizedSize(height, width, rule_, img_num);
}

at::Tensor ImageTransform::operator()(const imaging::RgbImage& image, int img_num) const {
  const auto [h, w] = OutputSize(image.height, image.width, img_num);
  if (h == image.height && w == image.width) return NormalizedTensor(image);
  return NormalizedTensor(imaging::ResizeBicubicLikePil(image, h, w));
}

at::Tensor NormalizedTensor(const imaging::RgbImage& image) {
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

imaging::RgbImage RgbImageOf(const at::Tensor& image) {
  CheckImage(image);
  const at::Tensor c = image.to(at::kCPU).contiguous();
  imaging::RgbImage out(c.size(0), c.size(1));
  std::memcpy(out.pixels.data(), c.data_ptr<uint8_t>(), out.pixels.size());
  return out;
}

at::Tensor TensorOf(const imaging::RgbImage& image) {
  at::Tensor out = at::empty({image.height, image.width, 3}, at::kByte);
  std::memcpy(out.data_ptr<uint8_t>(), image.pixels.data(), image.pixels.size());
  return out;
}

at::Tensor ResizeBicubic(const at::Tensor& image, int64_t height, int64_t width) {
  CheckImage(image);
  if (image.size(0) == height && image.size(1) == width) return image;
  return TensorOf(imaging::ResizeBicubicLikePil(RgbImageOf(image), height, width));
}

at::Tensor ToNormalizedTensor(const at::Tensor& image) {
  return NormalizedTensor(RgbImageOf(image));
}

at::Tensor ResizeForRule(const at::Tensor& image, const ResizeRule& rule, int img_num) {
  CheckImage(image);
  const auto [h, w] = CheckedResizedSize(image.size(0), image.size(1), rule, img_num);
  return ResizeBicubic(image, h, w);
}

at::Tensor ApplyImageTransform(const at::Tensor& image, const ResizeRule& rule, int img_num) {
  return ToNormalizedTensor(ResizeForRule(image, rule, img_num));
}

}  // namespace bagel
