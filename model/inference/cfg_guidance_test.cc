#include "model/inference/cfg_guidance.h"

#include <gtest/gtest.h>

#include <cmath>

namespace bagel {
namespace {

// Two latent tokens of two channels, small enough to check by hand.
const at::Tensor kV = at::tensor({3.0f, 4.0f, 0.0f, 1.0f}).reshape({2, 2});
const at::Tensor kVText = at::tensor({1.0f, 0.0f, 0.0f, 0.0f}).reshape({2, 2});
const at::Tensor kVImg = at::tensor({0.0f, 2.0f, 1.0f, 1.0f}).reshape({2, 2});

at::Tensor T(std::vector<double> v) {
  return at::tensor(v, at::kDouble).reshape({2, 2}).to(at::kFloat);
}

void ExpectNear(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_TRUE(at::allclose(got, want, 1e-6, 1e-6)) << got << "\nwant\n" << want;
}

CfgCombineOptions Options(double text, double img, CfgRenormType type, double lo = 0.0) {
  CfgCombineOptions o;
  o.text_scale = text;
  o.img_scale = img;
  o.renorm = type;
  o.renorm_min = lo;
  return o;
}

TEST(CfgGuidanceTest, NoTextGuidanceReturnsTheConditionalVelocity) {
  // text scale 1: the image-CFG velocity is ignored, as the official code discards it.
  ExpectNear(CombineCfgVelocity(kV, {}, kVImg, Options(1.0, 3.0, CfgRenormType::kGlobal)), kV);
}

TEST(CfgGuidanceTest, GlobalRenormUsesTheNormOfAllTokens) {
  // vt_ = 2 v - v_text = [[5, 8], [0, 2]]; |v| = sqrt(26), |vt_| = sqrt(93).
  const double s = std::sqrt(26.0) / (std::sqrt(93.0) + 1e-8);
  ExpectNear(CombineCfgVelocity(kV, kVText, {}, Options(2.0, 1.0, CfgRenormType::kGlobal)),
             T({5 * s, 8 * s, 0, 2 * s}));
}

TEST(CfgGuidanceTest, GlobalRenormAfterImageGuidance) {
  // v_ = 3 vt_ - 2 v_img = [[15, 20], [-2, 4]]; |v_| = sqrt(645).
  const double s = std::sqrt(26.0) / (std::sqrt(645.0) + 1e-8);
  ExpectNear(CombineCfgVelocity(kV, kVText, kVImg, Options(2.0, 3.0, CfgRenormType::kGlobal)),
             T({15 * s, 20 * s, -2 * s, 4 * s}));
}

TEST(CfgGuidanceTest, ChannelRenormIsPerToken) {
  // token 0: |v| = 5, |vt_| = sqrt(89); token 1: |v| = 1, |vt_| = 2.
  const double s0 = 5 / (std::sqrt(89.0) + 1e-8), s1 = 1 / (2 + 1e-8);
  ExpectNear(CombineCfgVelocity(kV, kVText, {}, Options(2.0, 1.0, CfgRenormType::kChannel)),
             T({5 * s0, 8 * s0, 0, 2 * s1}));
  // renorm_min lifts both scales to 0.9.
  ExpectNear(CombineCfgVelocity(kV, kVText, {}, Options(2.0, 1.0, CfgRenormType::kChannel, 0.9)),
             T({4.5, 7.2, 0, 1.8}));
}

TEST(CfgGuidanceTest, TextChannelRenormsTheTextGuidanceThenAppliesImageGuidance) {
  const double s0 = 5 / (std::sqrt(89.0) + 1e-8), s1 = 1 / (2 + 1e-8);
  // vt = vt_ * s per token; v = 3 vt - 2 v_img, not renormed again.
  ExpectNear(CombineCfgVelocity(kV, kVText, kVImg, Options(2.0, 3.0, CfgRenormType::kTextChannel)),
             T({15 * s0, 24 * s0 - 4, -2, 6 * s1 - 2}));
  ExpectNear(CombineCfgVelocity(kV, kVText, {}, Options(2.0, 1.0, CfgRenormType::kTextChannel)),
             T({5 * s0, 8 * s0, 0, 2 * s1}));
}

TEST(CfgGuidanceTest, RenormNeverScalesUp) {
  // v_text = 1.5 v gives vt_ = 0.5 v: the ratio 2 is clamped to 1.
  for (auto type : {CfgRenormType::kGlobal, CfgRenormType::kChannel, CfgRenormType::kTextChannel}) {
    ExpectNear(CombineCfgVelocity(kV, 1.5 * kV, {}, Options(2.0, 1.0, type)), 0.5 * kV);
  }
}

TEST(CfgGuidanceTest, RenormTypesParseByTheirOfficialNames) {
  EXPECT_EQ(ParseCfgRenormType("global"), CfgRenormType::kGlobal);
  EXPECT_EQ(ParseCfgRenormType("channel"), CfgRenormType::kChannel);
  EXPECT_EQ(ParseCfgRenormType("text_channel"), CfgRenormType::kTextChannel);
  EXPECT_STREQ(CfgRenormTypeName(CfgRenormType::kTextChannel), "text_channel");
  EXPECT_THROW(ParseCfgRenormType("none"), c10::Error);
}

}  // namespace
}  // namespace bagel
