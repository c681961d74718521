#include "worker/trainer/training_loss.h"

#include <gtest/gtest.h>

namespace bagel::train {
namespace {

at::Tensor Counts(double ce, double mse) { return at::tensor({ce, mse}, at::kDouble); }

TEST(TrainingLossTest, NormalisesByGlobalTokenCountsTimesWorldSize) {
  ForwardOutputs out;
  out.ce = at::tensor({1.0, 2.0, 3.0}, at::kFloat);
  out.mse = at::tensor({1.0, 3.0, 5.0, 7.0}, at::kFloat).view({2, 2});  // per-token means 2, 6
  // This rank holds 3 of 10 CE tokens and 2 of 8 MSE tokens; W = 2; ce weight 0.25; A = 2.
  MicroStepLoss l = TokenNormalizedLoss(out, Counts(10, 8), 2, {0.25, 1.0}, 2);
  EXPECT_NEAR(l.logged[0].item<double>(), 6.0 * 2 / 10, 1e-6);
  EXPECT_NEAR(l.logged[1].item<double>(), 8.0 * 2 / 8, 1e-6);
  EXPECT_NEAR(l.loss.item<double>(), (0.25 * 1.2 + 2.0) / 2, 1e-6);
  EXPECT_EQ(l.ce_tokens, 3);
  EXPECT_EQ(l.mse_tokens, 2);
}

TEST(TrainingLossTest, AHeadWithoutTokensContributesZero) {
  ForwardOutputs out;
  out.ce = at::tensor({2.0}, at::kFloat).requires_grad_();
  MicroStepLoss l = TokenNormalizedLoss(out, Counts(1, 0), 1, {}, 1);
  EXPECT_EQ(l.logged[1].item<double>(), 0.0);
  l.loss.backward();
  EXPECT_EQ(out.ce.grad().item<float>(), 1.0f);
  // No CE token on any rank: this rank's (empty) head adds nothing and divides by nothing.
  ForwardOutputs empty;
  empty.ce = at::zeros({0}, at::kFloat).requires_grad_();
  MicroStepLoss z = TokenNormalizedLoss(empty, Counts(0, 0), 2, {}, 1);
  EXPECT_EQ(z.loss.item<double>(), 0.0);
  EXPECT_EQ(z.logged[0].item<double>(), 0.0);
}

}  // namespace
}  // namespace bagel::train
