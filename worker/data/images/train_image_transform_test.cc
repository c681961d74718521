#include "worker/data/images/train_image_transform.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "worker/data/testing/reference_data.h"

namespace bagel::data {
namespace {

using testing::ReadFileBytes;
using testing::ReferencePath;

// The §3.3 size rule over ~5,000 (rule, img_num, size) combinations computed by the official
// MaxLongEdgeMinShortEdgeResize in Python (half-to-even rounding included).
TEST(TrainImageTransform, SizesEqualTheOfficialRuleOverASweep) {
  const auto sweep = nlohmann::json::parse(ReadFileBytes(ReferencePath("resize_sizes.json")));
  ASSERT_GT(sweep.size(), 4000u);
  int mismatches = 0;
  for (const auto& c : sweep) {
    const ResizeRule rule{c[0].get<int64_t>(), c[1].get<int64_t>(), c[2].get<int64_t>(),
                          c[3].get<int64_t>()};
    const TrainImageTransform t(rule);
    const auto [h, w] = t.OutputSize(c[5].get<int64_t>(), c[6].get<int64_t>(), c[4].get<int>());
    if (h != c[7].get<int64_t>() || w != c[8].get<int64_t>()) {
      if (++mismatches < 10) ADD_FAILURE() << c.dump() << " gave " << h << "x" << w;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(TrainImageTransform, NormalisesToMinusOneOne) {
  RgbImage img(2, 1);
  img.pixels = {0, 255, 128, 255, 0, 51};
  const at::Tensor t = NormalizedTensor(img);
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{3, 2, 1}));
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t[1][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), (128.0f / 255.0f - 0.5f) / 0.5f);
  EXPECT_FLOAT_EQ(t[0][1][0].item<float>(), 1.0f);
}

TEST(TrainImageTransform, OutputIsAMultipleOfTheStride) {
  const TrainImageTransform vae(ResizeRule{64, 32, 16, 1 << 20});
  RgbImage img(50, 77);
  const at::Tensor t = vae(img);
  EXPECT_EQ(t.size(1) % 16, 0);
  EXPECT_EQ(t.size(2) % 16, 0);
  EXPECT_LE(std::max(t.size(1), t.size(2)), 64);
}

TEST(TrainImageTransform, RejectsABadRule) {
  EXPECT_THROW(TrainImageTransform(ResizeRule{10, 5, 14, 100}), c10::Error);
}

}  // namespace
}  // namespace bagel::data
