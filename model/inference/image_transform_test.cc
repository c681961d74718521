#include "model/inference/image_transform.h"

#include <gtest/gtest.h>

namespace bagel {
namespace {

TEST(ImageTransformTest, RoundingIsPythonsHalfToEven) {
  EXPECT_EQ(RoundHalfEven(0.5), 0);
  EXPECT_EQ(RoundHalfEven(1.5), 2);
  EXPECT_EQ(RoundHalfEven(2.5), 2);
  EXPECT_EQ(RoundHalfEven(-0.5), 0);
  EXPECT_EQ(RoundHalfEven(2.5000001), 3);
  EXPECT_EQ(RoundHalfEven(7.0), 7);
}

TEST(ImageTransformTest, SizesFollowTheOfficialResizeRules) {
  using HW = std::pair<int64_t, int64_t>;
  // Already a valid VAE size: kept.
  EXPECT_EQ(ResizedSize(768, 1024, kVaeImageResize), (HW{768, 1024}));
  // Small images grow until the short side reaches min_size.
  EXPECT_EQ(ResizedSize(50, 100, kVaeImageResize), (HW{512, 1024}));
  // Large images shrink to max_size on the long side, then round to the stride.
  EXPECT_EQ(ResizedSize(1000, 3000, kVaeImageResize), (HW{336, 1024}));
  EXPECT_EQ(ResizedSize(600, 600, kVitImageResize), (HW{602, 602}));
  // BAGEL.md §3.3's example: 1000 x 1000 with max_pixels 2,007,040 and 4 images gives 518 x 518
  // (each side scaled by the area ratio, not its square root).
  const ResizeRule vlm{980, 378, 14, 2007040};
  EXPECT_EQ(ResizedSize(1000, 1000, vlm, 4), (HW{518, 518}));
  // Ties round to even: 35 / 14 = 2.5 -> 2 patches, 21 / 14 = 1.5 -> 2 patches.
  const ResizeRule loose{980, 10, 14, 14 * 14 * 9 * 1024};
  EXPECT_EQ(ResizedSize(35, 21, loose), (HW{28, 28}));
  // Never below one stride.
  EXPECT_EQ(ResizedSize(3, 3, loose), (HW{14, 14}));
  EXPECT_THROW(ResizedSize(0, 10, loose), c10::Error);
}

TEST(ImageTransformTest, ResizeKeepsFlatImagesFlatAndIsIdentityAtTheSameSize) {
  at::Tensor flat = at::full({40, 30, 3}, 77, at::kByte);
  at::Tensor small = ResizeBicubic(flat, 16, 14);
  EXPECT_EQ(small.sizes(), (std::vector<int64_t>{16, 14, 3}));
  EXPECT_TRUE(at::equal(small, at::full({16, 14, 3}, 77, at::kByte)));
  at::Tensor noise = at::randint(0, 256, {20, 10, 3}, at::kLong).to(at::kByte);
  EXPECT_TRUE(at::equal(ResizeBicubic(noise, 20, 10), noise));
  // Antialiased 2x reduction of a one-pixel checkerboard: mid grey.
  at::Tensor checker =
      (at::arange(64).reshape({8, 8}).remainder(2) + at::arange(8).unsqueeze(1)).remainder(2) * 255;
  at::Tensor rgb = checker.unsqueeze(2).expand({8, 8, 3}).to(at::kByte).contiguous();
  at::Tensor half = ResizeBicubic(rgb, 4, 4).to(at::kFloat);
  EXPECT_LT((half.narrow(0, 1, 2).narrow(1, 1, 2) - 127.5).abs().max().item<float>(), 3);
}

TEST(ImageTransformTest, TensorsAreChannelFirstInMinusOneToOne) {
  at::Tensor img = at::zeros({2, 3, 3}, at::kByte);
  img[0][0][0] = 255;
  img[1][2][1] = 51;
  at::Tensor t = ToNormalizedTensor(img);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 3}));
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[1][1][2].item<float>(), 51 / 255.0f * 2 - 1);
  EXPECT_FLOAT_EQ(t[2][1][1].item<float>(), -1.0f);
  at::Tensor transformed = ApplyImageTransform(at::zeros({100, 50, 3}, at::kByte), kVaeImageResize);
  EXPECT_EQ(transformed.sizes(), (std::vector<int64_t>{3, 1024, 512}));
  EXPECT_THROW(ToNormalizedTensor(at::zeros({2, 2, 4}, at::kByte)), c10::Error);
}

}  // namespace
}  // namespace bagel
