#include "imaging/pil_bicubic_resize.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "imaging/image_decode.h"
#include "testing/reference_data.h"

namespace bagel::imaging {
namespace {

using bagel::testing::ReadFileBytes;
using bagel::testing::ReferencePath;

// Pillow 12.3's Image.resize(size, BICUBIC) of a 97x130 picture to sizes that shrink, enlarge
// and mix both: the documented tolerance is 0 (the same bytes).
TEST(PilBicubicResize, EqualsPillowByteForByte) {
  const auto manifest = nlohmann::json::parse(ReadFileBytes(ReferencePath("manifest.json")));
  const RgbImage src = DecodeImageFile(ReferencePath("resize_src.png"));
  ASSERT_EQ(src.height, 97);
  ASSERT_FALSE(manifest["resizes"].empty());
  for (const auto& r : manifest["resizes"]) {
    const int64_t h = r[0].get<int64_t>(), w = r[1].get<int64_t>();
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const RgbImage out = ResizeBicubicLikePil(src, h, w);
    ASSERT_EQ(out.height, h);
    ASSERT_EQ(out.width, w);
    const std::string expected = ReadFileBytes(ReferencePath(r[2].get<std::string>()));
    ASSERT_EQ(expected.size(), out.pixels.size());
    int max_diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(int(uint8_t(expected[i])) - int(out.pixels[i])));
    }
    EXPECT_EQ(max_diff, 0);
  }
}

TEST(PilBicubicResize, SameSizeIsACopy) {
  RgbImage img(3, 4);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(ResizeBicubicLikePil(img, 3, 4).pixels, img.pixels);
}

TEST(PilBicubicResize, ConstantImageStaysConstant) {
  RgbImage img(31, 17);
  std::fill(img.pixels.begin(), img.pixels.end(), 77);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{5, 9}, {64, 40}, {1, 1}}) {
    const RgbImage out = ResizeBicubicLikePil(img, h, w);
    for (uint8_t v : out.pixels) ASSERT_EQ(v, 77);
  }
}

}  // namespace
}  // namespace bagel::imaging
