#include "worker/trainer/training_loss.h"

#include <gtest/gtest.h>

namespace bagel::train {
namespace {

TEST(TrainingLossTest, NormalisesByGlobalTokenCountsTimesWorldSize) {
  ForwardOutputs out;
  out.ce = at::tensor({1.0, 2.0, 3.0}, at::kFloat);
  out.mse = at::tensor({1.0, 3.0, 5.0, 7.0}, at::kFloat).view({2, 2});  // per-token means 2, 6
  // This rank holds 3 of 10 CE tokens and 2 of 8 MSE tokens; W = 2; ce weight 0.25; A = 2.
  MicroStepLoss l = TokenNormalizedLoss(out, 10, 8, 2, {0.25, 1.0}, 2);
  EXPECT_NEAR(l.ce, 6.0 * 2 / 10, 1e-6);
  EXPECT_NEAR(l.mse, 8.0 * 2 / 8, 1e-6);
  EXPECT_NEAR(l.loss.item<double>(), (0.25 * 1.2 + 2.0) / 2, 1e-6);
  EXPECT_EQ(l.ce_tokens, 3);
  EXPECT_EQ(l.mse_tokens, 2);
}

TEST(TrainingLossTest, AHeadWithoutTokensContributesZero) {
  ForwardOutputs out;
  out.ce = at::tensor({2.0}, at::kFloat).requires_grad_();
  MicroStepLoss l = TokenNormalizedLoss(out, 1, 0, 1, {}, 1);
  EXPECT_EQ(l.mse, 0.0);
  l.loss.backward();
  EXPECT_EQ(out.ce.grad().item<float>(), 1.0f);
}

}  // namespace
}  // namespace bagel::train
