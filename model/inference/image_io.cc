#include "model/inference/image_io.h"

#include <c10/util/Exception.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <memory>

namespace bagel {

at::Tensor ReadImageRgb(const std::string& path) {
  int w = 0, h = 0, channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load(path.c_str(), &w, &h, &channels, 0),
                                                 stbi_image_free);
  TORCH_CHECK(data != nullptr, path, ": cannot read image (", stbi_failure_reason(), ")");
  at::Tensor raw = at::from_blob(data.get(), {h, w, channels}, at::kByte).to(at::kFloat);
  at::Tensor rgb;
  if (channels == 1 || channels == 2) {
    rgb = raw.narrow(2, 0, 1).expand({h, w, 3});
  } else {
    rgb = raw.narrow(2, 0, 3);
  }
  if (channels == 2 || channels == 4) {
    // Alpha over a white background, rounded to 8 bits.
    at::Tensor alpha = raw.narrow(2, channels - 1, 1) / 255.0;
    rgb = (rgb * alpha + 255.0 * (1.0 - alpha)).round();
  }
  return rgb.clamp(0, 255).to(at::kByte).contiguous();
}

void WritePng(const std::string& path, const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == at::kByte,
              "WritePng expects [H, W, 3] uint8, got ", image.sizes(), " ", image.scalar_type());
  at::Tensor c = image.to(at::kCPU).contiguous();
  const int h = static_cast<int>(c.size(0)), w = static_cast<int>(c.size(1));
  TORCH_CHECK(stbi_write_png(path.c_str(), w, h, 3, c.data_ptr<uint8_t>(), w * 3) != 0, path,
              ": cannot write PNG");
}

}  // namespace bagel
