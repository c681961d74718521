#include "model/siglip/patch_embedding.h"

#include <gtest/gtest.h>

namespace bagel {
namespace {

TEST(PatchEmbeddingTest, LinearOnPatchifiedPixelsEqualsTheConv2d) {
  const int64_t p = 14, out = 10;
  at::Tensor image = at::randn({3, 28, 42}, at::kDouble);
  at::Tensor conv_w = at::randn({out, 3, p, p}, at::kDouble), bias = at::randn({out}, at::kDouble);
  // Conv2d with stride p: [1, out, 2, 3] -> rows in raster order.
  at::Tensor conv = at::conv2d(image.unsqueeze(0), conv_w, bias, {p, p}).squeeze(0);
  at::Tensor want = conv.flatten(1).t();  // [6, out]
  at::Tensor got = at::linear(Patchify(image, p), ConvPatchWeightToLinear(conv_w), bias);
  EXPECT_TRUE(at::allclose(got, want, 1e-10, 1e-10));
}

TEST(PatchEmbeddingTest, PatchifyOrdersRowColChannel) {
  // Pixel (c, y, x) of an image lands in patch (y/p, x/p) at ((y%p)*p + x%p)*C + c.
  const int64_t p = 2;
  at::Tensor image = at::arange(3 * 4 * 6, at::kDouble).reshape({3, 4, 6});
  at::Tensor patches = Patchify(image, p);
  ASSERT_EQ(patches.sizes(), (std::vector<int64_t>{6, 12}));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 6; ++x)
        ASSERT_EQ(patches[(y / p) * 3 + x / p][((y % p) * p + x % p) * 3 + c].item<double>(),
                  image[c][y][x].item<double>());
  EXPECT_THROW(Patchify(at::zeros({3, 5, 4}), 2), c10::Error);
}

TEST(PatchEmbeddingTest, ExtrapolatedPositionIdsAreRowTimes70PlusCol) {
  at::Tensor ids = FlattenedPositionIdsExtrapolate(28, 42, 14, 70);
  EXPECT_TRUE(ids.equal(at::tensor({0, 1, 2, 70, 71, 72}, at::kLong)));
  EXPECT_THROW(FlattenedPositionIdsExtrapolate(14 * 71, 14, 14, 70), c10::Error);
}

}  // namespace
}  // namespace bagel
