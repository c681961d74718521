#include "model/inference/image_io.h"

#include <c10/util/Exception.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "imaging/image_decode.h"
#include "imaging/image_encode.h"
#include "model/inference/image_transform.h"

namespace bagel {

at::Tensor ReadImageRgb(const std::string& path) {
  try {
    return TensorOf(imaging::DecodeImageFile(path));
  } catch (const imaging::ImageDecodeError& e) {
    TORCH_CHECK(false, e.what());
  }
}

void WritePng(const std::string& path, const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == at::kByte,
              "WritePng expects [H, W, 3] uint8, got ", image.sizes(), " ", image.scalar_type());
  const std::string png = imaging::EncodePng(RgbImageOf(image));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  TORCH_CHECK(out, path, ": cannot write PNG (", std::strerror(errno), ")");
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  out.close();
  TORCH_CHECK(out, path, ": cannot write PNG");
}

}  // namespace bagel
