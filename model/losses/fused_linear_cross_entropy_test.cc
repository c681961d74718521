#include "model/losses/fused_linear_cross_entropy.h"

#include <gtest/gtest.h>

namespace bagel {
namespace {

struct Inputs {
  at::Tensor h, w, y;
};

Inputs Make(int64_t m, int64_t hidden, int64_t vocab, uint64_t seed) {
  at::manual_seed(seed);
  return {at::randn({m, hidden}, at::kDouble), at::randn({vocab, hidden}, at::kDouble) * 0.3,
          at::randint(vocab, {m}, at::kLong)};
}

// F.cross_entropy(h @ W^T, y, reduction='none') and its gradients under loss = sum(g * ce).
std::vector<at::Tensor> Reference(const Inputs& in, const at::Tensor& g, int64_t ignore = -100) {
  at::Tensor h = in.h.clone().requires_grad_(), w = in.w.clone().requires_grad_();
  at::Tensor ce =
      at::cross_entropy_loss(at::matmul(h, w.t()), in.y, {}, at::Reduction::None, ignore);
  (ce * g).sum().backward();
  return {ce.detach(), h.grad(), w.grad()};
}

std::vector<at::Tensor> Fused(const Inputs& in, const at::Tensor& g, int64_t chunk,
                              int64_t ignore = -100) {
  at::Tensor h = in.h.clone().requires_grad_(), w = in.w.clone().requires_grad_();
  FusedCrossEntropyOptions o;
  o.chunk_rows = chunk;
  o.ignore_index = ignore;
  at::Tensor ce = FusedLinearCrossEntropy(h, w, in.y, o);
  (ce * g.to(ce.scalar_type())).sum().backward();
  return {ce.detach().to(at::kDouble), h.grad(), w.grad()};
}

void ExpectClose(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, double tol) {
  const char* names[] = {"ce", "dh", "dw"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::allclose(a[i].to(at::kDouble), b[i].to(at::kDouble), tol, tol))
        << names[i] << " max err "
        << (a[i].to(at::kDouble) - b[i].to(at::kDouble)).abs().max().item<double>();
  }
}

TEST(FusedLinearCrossEntropyTest, MatchesCrossEntropyWithUniformUpstreamGradient) {
  Inputs in = Make(37, 16, 101, 1);
  at::Tensor g = at::full({37}, 1.0 / 37, at::kDouble);  // ce.mean()
  for (int64_t chunk : {1, 5, 16, 37, 100})
    ExpectClose(Fused(in, g, chunk), Reference(in, g), 1e-10);
}

TEST(FusedLinearCrossEntropyTest, MatchesWithPerTokenWeights) {
  Inputs in = Make(23, 8, 50, 2);
  at::Tensor g = at::rand({23}, at::kDouble);  // e.g. ce_loss_reweighting's 1/sqrt(L)
  ExpectClose(Fused(in, g, 6), Reference(in, g), 1e-10);
}

TEST(FusedLinearCrossEntropyTest, IgnoredLabelsGiveZeroLossAndNoGradient) {
  Inputs in = Make(10, 8, 30, 3);
  in.y[2] = -100;
  in.y[7] = -100;
  at::Tensor g = at::ones({10}, at::kDouble);
  auto fused = Fused(in, g, 4);
  ExpectClose(fused, Reference(in, g), 1e-10);
  EXPECT_EQ(fused[0][2].item<double>(), 0.0);
  EXPECT_EQ(fused[1][7].abs().sum().item<double>(), 0.0);
}

TEST(FusedLinearCrossEntropyTest, Float32IsWithinRounding) {
  Inputs in = Make(64, 32, 1000, 4);
  Inputs f{in.h.to(at::kFloat), in.w.to(at::kFloat), in.y};
  at::Tensor g = at::full({64}, 1.0 / 64, at::kDouble);
  ExpectClose(Fused(f, g, 0), Reference(in, g), 1e-5);
}

TEST(FusedLinearCrossEntropyTest, Float32VocabularyBlocksCoverEveryRow) {
  // More than one CPU vocabulary block (1,024 rows) and a ragged last block.
  Inputs in = Make(19, 16, 2500, 7);
  Inputs f{in.h.to(at::kFloat), in.w.to(at::kFloat), in.y};
  f.y[3] = 2499;
  in.y[3] = 2499;
  at::Tensor g = at::rand({19}, at::kDouble);
  ExpectClose(Fused(f, g, 8), Reference(in, g), 1e-5);
}

TEST(FusedLinearCrossEntropyTest, NoGradientWorkWithoutAutograd) {
  Inputs in = Make(5, 4, 9, 5);
  at::NoGradGuard no_grad;
  at::Tensor ce = FusedLinearCrossEntropy(in.h, in.w, in.y);
  EXPECT_FALSE(ce.requires_grad());
  EXPECT_TRUE(at::allclose(
      ce, at::cross_entropy_loss(at::matmul(in.h, in.w.t()), in.y, {}, at::Reduction::None)));
}

TEST(FusedLinearCrossEntropyTest, RejectsOutOfRangeLabels) {
  Inputs in = Make(4, 4, 9, 6);
  in.y[1] = 9;
  EXPECT_THROW(FusedLinearCrossEntropy(in.h, in.w, in.y), c10::Error);
  in.y[1] = -3;
  EXPECT_THROW(FusedLinearCrossEntropy(in.h, in.w, in.y), c10::Error);
  EXPECT_THROW(FusedLinearCrossEntropy(in.h, in.w, in.y.narrow(0, 0, 3)), c10::Error);
}

}  // namespace
}  // namespace bagel
