#include "worker/data/datasets/counter_rng.h"

#include <gtest/gtest.h>

#include <vector>

namespace bagel::data {
namespace {

TEST(CounterRng, StateIsTheWholeStory) {
  CounterRng a(123);
  a.NextU64();
  CounterRng b(a.state());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(CounterRng, DistributionsHaveTheirMoments) {
  CounterRng r(7);
  const int n = 20000;
  double su = 0, sn = 0, sn2 = 0;
  std::vector<int> below(5, 0);
  for (int i = 0; i < n; ++i) {
    const double u = r.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    const double z = r.Normal();
    sn += z;
    sn2 += z * z;
    below[r.Below(5)]++;
  }
  EXPECT_NEAR(su / n, 0.5, 0.01);
  EXPECT_NEAR(sn / n, 0.0, 0.03);
  EXPECT_NEAR(sn2 / n, 1.0, 0.04);
  for (int c : below) EXPECT_NEAR(c, n / 5, 300);
}

TEST(CounterRng, MixSeparatesItsInputs) {
  EXPECT_EQ(CounterRng::Mix({1, 2, 3}), CounterRng::Mix({1, 2, 3}));
  EXPECT_NE(CounterRng::Mix({1, 2, 3}), CounterRng::Mix({1, 3, 2}));
  EXPECT_NE(CounterRng::Mix({1, 2, 3}), CounterRng::Mix({1, 2, 4}));
}

}  // namespace
}  // namespace bagel::data
