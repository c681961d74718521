// Image patches as BAGEL packs them (BAGEL.md §2.5), and the SigLIP Conv2d patch embedding
// rewritten as the Linear that BAGEL checkpoints store.
#pragma once

#include <ATen/ATen.h>

namespace bagel {

// image [C, H, W] (H, W multiples of p) -> [(H/p)*(W/p), p*p*C], patches in raster order, each
// flattened as (row-in-patch, col-in-patch, channel) with the channel fastest.
at::Tensor Patchify(const at::Tensor& image, int64_t patch_size);

// Conv2d weight [out, C, p, p] -> Linear weight [out, p*p*C] acting on Patchify's rows
// (W_lin = W_conv.permute(0, 2, 3, 1).reshape(out, -1)); the bias is unchanged.
at::Tensor ConvPatchWeightToLinear(const at::Tensor& conv_weight);

// Position ids of an image's patches in "extrapolate" mode: row * max_per_side + col, [h*w].
at::Tensor FlattenedPositionIdsExtrapolate(int64_t image_h, int64_t image_w, int64_t patch_size,
                                           int64_t max_num_patches_per_side);

}  // namespace bagel
