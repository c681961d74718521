#include "model/qwen2/rotary_embedding.h"

#include <gtest/gtest.h>

#include <cmath>

namespace bagel {
namespace {

TEST(RotaryEmbeddingTest, RotatesEachPairByPositionTimesFrequency) {
  const int64_t d = 8;
  const double theta = 1e6;
  RotaryEmbedding rope(d, theta);
  at::Tensor pos = at::tensor({0, 3, 17}, at::kLong);
  auto tables = rope.Tables(pos, at::kDouble);
  at::Tensor x = at::randn({3, 2, d}, at::kDouble);
  at::Tensor y = ApplyRotary(x, tables);
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t i = 0; i < d / 2; ++i) {
      const double angle = pos[n].item<double>() / std::pow(theta, 2.0 * i / d);
      for (int64_t h = 0; h < 2; ++h) {
        const double a = x[n][h][i].item<double>(), b = x[n][h][i + d / 2].item<double>();
        // rotate-half pairs dimension i with i + d/2.
        EXPECT_NEAR(y[n][h][i].item<double>(), a * std::cos(angle) - b * std::sin(angle), 1e-5);
        EXPECT_NEAR(y[n][h][i + d / 2].item<double>(), b * std::cos(angle) + a * std::sin(angle),
                    1e-5);
      }
    }
  }
}

TEST(RotaryEmbeddingTest, DotProductsDependOnlyOnRelativePosition) {
  RotaryEmbedding rope(16, 10000.0);
  at::Tensor q = at::randn({1, 1, 16}, at::kDouble), k = at::randn({1, 1, 16}, at::kDouble);
  auto dot = [&](int64_t pq, int64_t pk) {
    at::Tensor rq = ApplyRotary(q, rope.Tables(at::tensor({pq}, at::kLong), at::kDouble));
    at::Tensor rk = ApplyRotary(k, rope.Tables(at::tensor({pk}, at::kLong), at::kDouble));
    return (rq * rk).sum().item<double>();
  };
  EXPECT_NEAR(dot(5, 2), dot(103, 100), 1e-5);
  EXPECT_NEAR(dot(0, 0), (q * k).sum().item<double>(), 1e-9);
}

TEST(RotaryEmbeddingTest, InverseFrequenciesFollowTheta) {
  RotaryEmbedding rope(128, 1e6);
  EXPECT_FLOAT_EQ(rope.inv_freq()[0].item<float>(), 1.0f);
  EXPECT_NEAR(rope.inv_freq()[63].item<double>(), std::pow(1e6, -126.0 / 128.0), 1e-12);
}

}  // namespace
}  // namespace bagel
