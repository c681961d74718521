#include "model/siglip/patch_embedding.h"

#include <c10/util/Exception.h>

namespace bagel {

at::Tensor Patchify(const at::Tensor& image, int64_t p) {
  TORCH_CHECK(image.dim() == 3, "patchify expects [C, H, W], got ", image.sizes());
  const int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  TORCH_CHECK(h % p == 0 && w % p == 0, "image ", h, "x", w, " is not a multiple of patch ", p);
  return image.reshape({c, h / p, p, w / p, p})
      .permute({1, 3, 2, 4, 0})  // (h, w, p, q, c)
      .reshape({(h / p) * (w / p), p * p * c});
}

at::Tensor ConvPatchWeightToLinear(const at::Tensor& conv_weight) {
  TORCH_CHECK(conv_weight.dim() == 4 && conv_weight.size(2) == conv_weight.size(3),
              "expected a Conv2d weight [out, C, p, p], got ", conv_weight.sizes());
  return conv_weight.permute({0, 2, 3, 1}).reshape({conv_weight.size(0), -1}).contiguous();
}

at::Tensor FlattenedPositionIdsExtrapolate(int64_t image_h, int64_t image_w, int64_t patch_size,
                                           int64_t max_num_patches_per_side) {
  const int64_t rows = image_h / patch_size, cols = image_w / patch_size;
  TORCH_CHECK(rows <= max_num_patches_per_side && cols <= max_num_patches_per_side, "image ",
              image_h, "x", image_w, " has more than ", max_num_patches_per_side,
              " patches per side");
  at::Tensor r = at::arange(rows, at::kLong).unsqueeze(1) * max_num_patches_per_side;
  return (r + at::arange(cols, at::kLong).unsqueeze(0)).flatten();
}

}  // namespace bagel
