#include "model/attention/packed_attention.h"

#include <gtest/gtest.h>

#include <random>

#include "model/attention/attention_layout.h"
#include "model/testing/random_layout.h"

namespace bagel {
namespace {

using testing::RandomQkv;

TEST(PackedAttentionTest, SplitLayoutMatchesDenseBruteForceMask) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    auto l = testing::MakeRandomLayout(rng);
    const int64_t heads = 4, kv_heads = (trial % 2) ? 2 : 4, d = 8;
    auto x = RandomQkv(l.num_tokens, heads, kv_heads, d, trial);
    auto layout = AttentionLayout::FromSplits(l.sample_lens, l.split_lens, l.modes, l.num_tokens);
    at::Tensor got = PackedAttention(x.q, x.k, x.v, layout, 0.3);
    at::Tensor want =
        DenseReferenceAttentionForTest(x.q, x.k, x.v, testing::BruteForceMask(l), 0.3);
    ASSERT_TRUE(at::allclose(got, want, 1e-10, 1e-10)) << "trial " << trial;
  }
}

TEST(PackedAttentionTest, NestedMasksAndSplitsGiveTheSameOutputAndGradients) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    auto l = testing::MakeRandomLayout(rng);
    auto x = RandomQkv(l.num_tokens, 4, 2, 8, 100 + trial);
    at::Tensor full = testing::BruteForceMask(l);
    std::vector<at::Tensor> masks;
    int64_t start = 0;
    for (int64_t n : l.sample_lens) {
      masks.push_back(AdditiveMask(full.narrow(0, start, n).narrow(1, start, n)).to(at::kDouble));
      start += n;
    }
    auto run = [&](const AttentionLayout& layout) {
      at::Tensor q = x.q.clone().requires_grad_(), k = x.k.clone().requires_grad_(),
                 v = x.v.clone().requires_grad_();
      at::Tensor out = PackedAttention(q, k, v, layout, 0.5);
      (out * out).sum().backward();
      return std::vector<at::Tensor>{out.detach(), q.grad(), k.grad(), v.grad()};
    };
    auto a = run(AttentionLayout::FromSplits(l.sample_lens, l.split_lens, l.modes, l.num_tokens));
    auto b = run(AttentionLayout::FromNestedMasks(l.sample_lens, masks, l.num_tokens));
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_TRUE(at::allclose(a[i], b[i], 1e-9, 1e-9)) << "trial " << trial << " tensor " << i;
    }
  }
}

TEST(PackedAttentionTest, Float32MatchesFloat64Reference) {
  std::mt19937 rng(3);
  auto l = testing::MakeRandomLayout(rng, 3, 4, 30);
  auto x = RandomQkv(l.num_tokens, 4, 2, 16, 9);
  auto layout = AttentionLayout::FromSplits(l.sample_lens, l.split_lens, l.modes, l.num_tokens);
  at::Tensor got =
      PackedAttention(x.q.to(at::kFloat), x.k.to(at::kFloat), x.v.to(at::kFloat), layout, 0.25);
  at::Tensor want = DenseReferenceAttentionForTest(x.q, x.k, x.v, testing::BruteForceMask(l), 0.25);
  EXPECT_TRUE(at::allclose(got.to(at::kDouble), want, 1e-5, 1e-5));
}

TEST(PackedAttentionTest, FullSegmentsAreIndependentImages) {
  auto x = RandomQkv(7, 2, 2, 4, 1);
  at::Tensor got = PackedAttention(x.q, x.k, x.v, AttentionLayout::FullSegments({3, 4}), 0.5);
  at::Tensor first = PackedAttention(x.q.narrow(0, 0, 3), x.k.narrow(0, 0, 3), x.v.narrow(0, 0, 3),
                                     AttentionLayout::FullSegments({3}), 0.5);
  EXPECT_TRUE(at::allclose(got.narrow(0, 0, 3), first));
  // Changing the second image does not change the first one's output.
  x.k.narrow(0, 3, 4).mul_(3.0);
  at::Tensor again = PackedAttention(x.q, x.k, x.v, AttentionLayout::FullSegments({3, 4}), 0.5);
  EXPECT_TRUE(at::allclose(again.narrow(0, 0, 3), first));
}

TEST(PackedAttentionTest, RejectsALayoutOfAnotherLength) {
  auto x = RandomQkv(5, 2, 2, 4, 1);
  EXPECT_THROW(PackedAttention(x.q, x.k, x.v, AttentionLayout::FullSegments({4}), 0.5), c10::Error);
}

}  // namespace
}  // namespace bagel
