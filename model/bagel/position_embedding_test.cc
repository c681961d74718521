#include "model/bagel/position_embedding.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/bagel/timestep_embedder.h"

namespace bagel {
namespace {

// BAGEL.md §1.4 written out: pos[r*S + c] = [E(c, D/2), E(r, D/2)], E(p, d) = [sin(p w), cos(p w)],
// w_k = 1 / 10000^(k / (d/2)).
double Formula(int64_t S, int64_t D, int64_t row, int64_t col, int64_t j) {
  const int64_t d = D / 2;
  const int64_t p = j < d ? col : row;
  const int64_t i = j % d;
  const int64_t k = i % (d / 2);
  const double w = 1.0 / std::pow(10000.0, static_cast<double>(k) / (d / 2.0));
  return i < d / 2 ? std::sin(p * w) : std::cos(p * w);
}

TEST(SinCos2dTableTest, MatchesTheFormulaColumnHalfFirst) {
  const int64_t S = 7, D = 24;
  at::Tensor table = SinCos2dTable(S, D);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{S * S, D}));
  auto acc = table.accessor<float, 2>();
  for (int64_t r = 0; r < S; ++r) {
    for (int64_t c = 0; c < S; ++c) {
      for (int64_t j = 0; j < D; ++j) {
        ASSERT_FLOAT_EQ(acc[r * S + c][j], static_cast<float>(Formula(S, D, r, c, j)))
            << "r=" << r << " c=" << c << " j=" << j;
      }
    }
  }
  // Position (row 0, col 3): the first half varies with the column, the second is row 0's.
  EXPECT_NE(acc[3][0], 0.0f);
  EXPECT_EQ(acc[3][D / 2], 0.0f);          // sin(0)
  EXPECT_EQ(acc[3][D / 2 + D / 4], 1.0f);  // cos(0)
}

TEST(SinCos2dTableTest, RejectsDimsNotMultipleOfFour) {
  EXPECT_THROW(SinCos2dTable(3, 10), c10::Error);
}

TEST(PositionEmbeddingTest, IsFrozenAndIndexed) {
  PositionEmbedding pe(5, 8, at::TensorOptions().dtype(at::kFloat));
  EXPECT_FALSE(pe.pos_embed.requires_grad());
  at::Tensor rows = pe.Forward(at::tensor({0, 6}, at::kLong));
  EXPECT_TRUE(rows[1].equal(SinCos2dTable(5, 8)[6]));
}

TEST(TimestepEmbeddingTest, CosineHalfFirstAndUnscaledTime) {
  at::Tensor t = at::tensor({0.0, 0.25, 1.0}, at::kFloat);
  at::Tensor e = TimestepFrequencyEmbedding(t, 256);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{3, 256}));
  for (int i = 0; i < 3; ++i) {
    const double ti = t[i].item<double>();
    for (int k : {0, 1, 17, 127}) {
      const double f = std::exp(-std::log(10000.0) * k / 128.0);
      EXPECT_NEAR(e[i][k].item<double>(), std::cos(ti * f), 1e-6);
      EXPECT_NEAR(e[i][128 + k].item<double>(), std::sin(ti * f), 1e-6);
    }
  }
}

}  // namespace
}  // namespace bagel
