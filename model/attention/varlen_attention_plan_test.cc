#include "model/attention/varlen_attention_plan.h"

#include <gtest/gtest.h>

#include <random>

#include "model/attention/packed_attention.h"
#include "model/testing/random_layout.h"

namespace bagel {
namespace {

using testing::RandomQkv;

std::vector<int64_t> ToVector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Restores the process-wide attention path when a test ends.
class ScopedAttentionPath {
 public:
  explicit ScopedAttentionPath(AttentionPath path) : saved_(GetAttentionPath()) {
    SetAttentionPath(path);
  }
  ~ScopedAttentionPath() { SetAttentionPath(saved_); }

 private:
  AttentionPath saved_;
};

TEST(VarlenAttentionPlanTest, ThePlanOfRandomLayoutsMatchesTheMaskRule) {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 80; ++trial) {
    auto l = testing::MakeRandomLayout(rng);
    const int64_t kv_heads = (trial % 3 == 0) ? 1 : (trial % 3 == 1 ? 2 : 4);
    auto x = RandomQkv(l.num_tokens, 4, kv_heads, 8, 300 + trial);
    auto layout = AttentionLayout::FromSplits(l.sample_lens, l.split_lens, l.modes, l.num_tokens);
    const VarlenAttentionPlan plan = BuildVarlenAttentionPlan(layout, at::kCPU);
    EXPECT_EQ(plan.num_segments, static_cast<int64_t>(l.split_lens.size()));
    EXPECT_LE(plan.groups.size(), 2u);
    at::Tensor got = RunVarlenAttention(x.q, x.k, x.v, plan, 0.3, VarlenKernel::kReference);
    at::Tensor want =
        DenseReferenceAttentionForTest(x.q, x.k, x.v, testing::BruteForceMask(l), 0.3);
    ASSERT_TRUE(at::allclose(got, want, 1e-10, 1e-10)) << "trial " << trial;
  }
}

TEST(VarlenAttentionPlanTest, GradientsEqualTheSplitPath) {
  std::mt19937 rng(8);
  for (int trial = 0; trial < 20; ++trial) {
    auto l = testing::MakeRandomLayout(rng);
    auto x = RandomQkv(l.num_tokens, 4, 2, 8, 700 + trial);
    auto layout = AttentionLayout::FromSplits(l.sample_lens, l.split_lens, l.modes, l.num_tokens);
    auto run = [&](AttentionPath path) {
      ScopedAttentionPath scoped(path);
      at::Tensor q = x.q.clone().requires_grad_(), k = x.k.clone().requires_grad_(),
                 v = x.v.clone().requires_grad_();
      at::Tensor out = PackedAttention(q, k, v, layout, 0.5);
      (out * out.detach().cos()).sum().backward();
      return std::vector<at::Tensor>{out.detach(), q.grad(), k.grad(), v.grad()};
    };
    auto varlen = run(AttentionPath::kVarlen);
    auto split = run(AttentionPath::kSplitSdpa);
    for (size_t i = 0; i < varlen.size(); ++i) {
      ASSERT_TRUE(at::allclose(varlen[i], split[i], 1e-10, 1e-10))
          << "trial " << trial << " tensor " << i;
    }
  }
}

TEST(VarlenAttentionPlanTest, SegmentsSeeTheirVisiblePrefixAndNoForeignNoise) {
  // One sample: causal text [0, 3), a full ViT image [3, 5), a noise VAE image [5, 7), causal
  // text [7, 9); then a second sample of one causal split [9, 11).
  auto layout = AttentionLayout::FromSplits(
      {9, 2}, {3, 2, 2, 2, 2},
      {AttnMode::kCausal, AttnMode::kFull, AttnMode::kNoise, AttnMode::kCausal, AttnMode::kCausal},
      11);
  const VarlenAttentionPlan plan = BuildVarlenAttentionPlan(layout, at::kCPU);
  ASSERT_EQ(plan.groups.size(), 2u);
  const VarlenGroup& causal = plan.groups[0];
  const VarlenGroup& full = plan.groups[1];
  ASSERT_TRUE(causal.causal);
  ASSERT_FALSE(full.causal);
  EXPECT_EQ(ToVector(causal.q_index), (std::vector<int64_t>{0, 1, 2, 7, 8, 9, 10}));
  // The last text split sees the text and the ViT image, never the noise split.
  EXPECT_EQ(ToVector(causal.k_index), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, 4, 7, 8, 9, 10}));
  EXPECT_EQ(ToVector(causal.cu_q), (std::vector<int64_t>{0, 3, 5, 7}));
  EXPECT_EQ(ToVector(causal.cu_k), (std::vector<int64_t>{0, 3, 10, 12}));
  EXPECT_EQ(causal.cu_q.scalar_type(), at::kInt);
  EXPECT_EQ(causal.max_q, 3);
  EXPECT_EQ(causal.max_k, 7);
  EXPECT_EQ(ToVector(full.q_index), (std::vector<int64_t>{3, 4, 5, 6}));
  // The noise split sees the text, the ViT image and itself.
  EXPECT_EQ(ToVector(full.k_index), (std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ToVector(full.cu_k), (std::vector<int64_t>{0, 5, 12}));
  EXPECT_FALSE(causal.q_identity || causal.k_identity || full.q_identity || full.k_identity);
  // Outputs come back in sequence order: causal outputs first, then full ones.
  EXPECT_EQ(ToVector(plan.inverse), (std::vector<int64_t>{0, 1, 2, 7, 8, 9, 10, 3, 4, 5, 6}));
}

TEST(VarlenAttentionPlanTest, ImagesOfTheVitNeedNoGather) {
  const VarlenAttentionPlan plan =
      BuildVarlenAttentionPlan(AttentionLayout::FullSegments({4, 9, 1}), at::kCPU);
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_TRUE(plan.groups[0].q_identity);
  EXPECT_TRUE(plan.groups[0].k_identity);
  EXPECT_FALSE(plan.inverse.defined());
  EXPECT_EQ(plan.groups[0].cu_q_host, (std::vector<int64_t>{0, 4, 13, 14}));
  EXPECT_EQ(plan.groups[0].max_k, 9);
}

TEST(VarlenAttentionPlanTest, AnEmptySequenceGivesAnEmptyOutput) {
  const AttentionLayout empty = AttentionLayout::FullSegments({});
  const RandomQkv x(0, 2, 1, 8, 4);
  EXPECT_EQ(
      RunVarlenAttention(x.q, x.k, x.v, empty.VarlenPlan(at::kCPU), 0.5, VarlenKernel::kReference)
          .sizes(),
      x.q.sizes());
}

TEST(VarlenAttentionPlanTest, TheLayoutBuildsItsPlanOnceForEveryLayerAndCopy) {
  auto layout = AttentionLayout::FromSplits({5}, {2, 3}, {AttnMode::kCausal, AttnMode::kFull}, 5);
  const VarlenAttentionPlan& first = layout.VarlenPlan(at::kCPU);
  const AttentionLayout copy = layout;
  EXPECT_EQ(&copy.VarlenPlan(at::kCPU), &first);
  EXPECT_EQ(&layout.VarlenPlan(at::kCPU), &first);
}

TEST(VarlenAttentionPlanTest, DenseMaskLayoutsHaveNoPlan) {
  auto layout = AttentionLayout::FromNestedMasks({2}, {at::ones({2, 2}, at::kBool)}, 2);
  EXPECT_THROW(BuildVarlenAttentionPlan(layout, at::kCPU), c10::Error);
  // ... and PackedAttention keeps their per-sample path under every setting.
  ScopedAttentionPath scoped(AttentionPath::kVarlen);
  auto x = RandomQkv(2, 2, 2, 4, 1);
  EXPECT_EQ(PackedAttention(x.q, x.k, x.v, layout, 0.5).sizes(), x.q.sizes());
}

TEST(VarlenAttentionPlanTest, FlashRunsWhereItCanAndTheFallbackElsewhere) {
  const at::Device gpu(at::kCUDA, 0);
  EXPECT_TRUE(FlashVarlenSupports(gpu, at::kBFloat16, 128));
  EXPECT_TRUE(FlashVarlenSupports(gpu, at::kHalf, 72));  // SigLIP's head size
  EXPECT_FALSE(FlashVarlenSupports(gpu, at::kFloat, 128));
  EXPECT_FALSE(FlashVarlenSupports(gpu, at::kBFloat16, 260));
  EXPECT_FALSE(FlashVarlenSupports(gpu, at::kBFloat16, 20));
  EXPECT_FALSE(FlashVarlenSupports(at::kCPU, at::kBFloat16, 128));
  {
    ScopedAttentionPath scoped(AttentionPath::kAuto);
    EXPECT_EQ(AttentionKernelName(gpu, at::kBFloat16, 128), "flash-varlen");
    EXPECT_EQ(AttentionKernelName(gpu, at::kFloat, 128), "sdpa-split");
    EXPECT_EQ(AttentionKernelName(at::kCPU, at::kFloat, 64), "sdpa-split");
  }
  {
    ScopedAttentionPath scoped(AttentionPath::kVarlen);
    EXPECT_EQ(AttentionKernelName(at::kCPU, at::kFloat, 64), "varlen-reference");
    EXPECT_EQ(AttentionKernelName(gpu, at::kBFloat16, 128), "flash-varlen");
  }
  {
    ScopedAttentionPath scoped(AttentionPath::kSplitSdpa);
    EXPECT_EQ(AttentionKernelName(gpu, at::kBFloat16, 128), "sdpa-split");
  }
  EXPECT_EQ(AttentionPathFromName("varlen"), AttentionPath::kVarlen);
  EXPECT_THROW(AttentionPathFromName("flash"), c10::Error);
}

TEST(VarlenAttentionPlanTest, TheFlashKernelRefusesWhatItCannotRun) {
  auto layout = AttentionLayout::FullSegments({3});
  auto x = RandomQkv(3, 2, 2, 8, 2);
  EXPECT_THROW(RunVarlenAttention(x.q.to(at::kFloat), x.k.to(at::kFloat), x.v.to(at::kFloat),
                                  layout.VarlenPlan(at::kCPU), 0.5, VarlenKernel::kFlash),
               c10::Error);
}

}  // namespace
}  // namespace bagel
