#include "imaging/resize_rule.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace bagel::imaging {
namespace {

TEST(ResizeRuleTest, RoundingIsPythonsHalfToEven) {
  EXPECT_EQ(RoundHalfEven(0.5), 0);
  EXPECT_EQ(RoundHalfEven(1.5), 2);
  EXPECT_EQ(RoundHalfEven(2.5), 2);
  EXPECT_EQ(RoundHalfEven(-0.5), 0);
  EXPECT_EQ(RoundHalfEven(2.5000001), 3);
  EXPECT_EQ(RoundHalfEven(7.0), 7);
}

TEST(ResizeRuleTest, SizesFollowTheOfficialResizeRules) {
  using HW = std::pair<int64_t, int64_t>;
  // Already a valid VAE size: kept.
  EXPECT_EQ(ResizedSize(768, 1024, kVaeImageResize), (HW{768, 1024}));
  // Small images grow until the short side reaches min_size.
  EXPECT_EQ(ResizedSize(50, 100, kVaeImageResize), (HW{512, 1024}));
  // Large images shrink to max_size on the long side, then round to the stride.
  EXPECT_EQ(ResizedSize(1000, 3000, kVaeImageResize), (HW{336, 1024}));
  EXPECT_EQ(ResizedSize(600, 600, kVitImageResize), (HW{602, 602}));
  // MODEL.md §3.3's example: 1000 x 1000 with max_pixels 2,007,040 and 4 images gives 518 x 518
  // (each side scaled by the area ratio, not its square root).
  const ResizeRule vlm{980, 378, 14, 2007040};
  EXPECT_EQ(ResizedSize(1000, 1000, vlm, 4), (HW{518, 518}));
  // Ties round to even: 35 / 14 = 2.5 -> 2 patches, 21 / 14 = 1.5 -> 2 patches.
  const ResizeRule loose{980, 10, 14, 14 * 14 * 9 * 1024};
  EXPECT_EQ(ResizedSize(35, 21, loose), (HW{28, 28}));
  // Never below one stride.
  EXPECT_EQ(ResizedSize(3, 3, loose), (HW{14, 14}));
  EXPECT_THROW(ResizedSize(0, 10, loose), std::invalid_argument);
  EXPECT_THROW(ResizedSize(10, 10, loose, 0), std::invalid_argument);
}

TEST(ResizeRuleTest, ABadRuleIsNamed) {
  EXPECT_NO_THROW(CheckResizeRule(kVaeImageResize));
  try {
    CheckResizeRule(ResizeRule{10, 5, 14, 100});
    ADD_FAILURE() << "a rule with max_size < stride was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_size 10"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bagel::imaging
