#include "model/inference/image_transform.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "imaging/pil_bicubic_resize.h"
#include "testing/reference_data.h"

namespace bagel {
namespace {

using bagel::testing::ReadFileBytes;
using bagel::testing::ReferencePath;

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

// The §3.3 size rule over ~5,000 (rule, img_num, size) combinations computed by the official
// MaxLongEdgeMinShortEdgeResize in Python (half-to-even rounding included).
TEST(ImageTransformTest, SizesEqualTheOfficialRuleOverASweep) {
  const auto sweep = nlohmann::json::parse(ReadFileBytes(ReferencePath("resize_sizes.json")));
  ASSERT_GT(sweep.size(), 4000u);
  int mismatches = 0;
  for (const auto& c : sweep) {
    const ResizeRule rule{c[0].get<int64_t>(), c[1].get<int64_t>(), c[2].get<int64_t>(),
                          c[3].get<int64_t>()};
    const ImageTransform t(rule);
    const auto [h, w] = t.OutputSize(c[5].get<int64_t>(), c[6].get<int64_t>(), c[4].get<int>());
    if (h != c[7].get<int64_t>() || w != c[8].get<int64_t>()) {
      if (++mismatches < 10) ADD_FAILURE() << c.dump() << " gave " << h << "x" << w;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(ImageTransformTest, NormalisesToMinusOneOne) {
  imaging::RgbImage img(2, 1);
  img.pixels = {0, 255, 128, 255, 0, 51};
  const at::Tensor t = NormalizedTensor(img);
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{3, 2, 1}));
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t[1][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), (128.0f / 255.0f - 0.5f) / 0.5f);
  EXPECT_FLOAT_EQ(t[0][1][0].item<float>(), 1.0f);
}

TEST(ImageTransformTest, OutputIsAMultipleOfTheStride) {
  const ImageTransform vae(ResizeRule{64, 32, 16, 1 << 20});
  imaging::RgbImage img(50, 77);
  const at::Tensor t = vae(img);
  EXPECT_EQ(t.size(1) % 16, 0);
  EXPECT_EQ(t.size(2) % 16, 0);
  EXPECT_LE(std::max(t.size(1), t.size(2)), 64);
}

TEST(ImageTransformTest, RejectsABadRule) {
  EXPECT_THROW(ImageTransform(ResizeRule{10, 5, 14, 100}), c10::Error);
}

// The resize is Pillow's, exactly: the training and inference pipelines are one.
TEST(ImageTransformTest, TensorResizeEqualsTheRgbImageResize) {
  at::Tensor noise = at::randint(0, 256, {37, 53, 3}, at::kLong).to(at::kByte);
  const at::Tensor via_tensor = ResizeBicubic(noise, 20, 30);
  EXPECT_TRUE(
      at::equal(via_tensor, TensorOf(imaging::ResizeBicubicLikePil(RgbImageOf(noise), 20, 30))));
}

}  // namespace
}  // namespace bagel
