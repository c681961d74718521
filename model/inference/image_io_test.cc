#include "model/inference/image_io.h"

#include <gtest/gtest.h>

#include <fstream>

#include "imaging/image_encode.h"
#include "testing/temp_dir.h"

namespace bagel {
namespace {

TEST(ImageIoTest, PngRoundTripsExactly) {
  bagel::testing::TempDir dir;
  const std::string path = dir.File("rgb.png");
  at::Tensor img = at::randint(0, 256, {5, 7, 3}, at::kLong).to(at::kByte);
  WritePng(path, img);
  EXPECT_TRUE(at::equal(ReadImageRgb(path), img));
}

// The training pipeline's decode: alpha over white with PIL's rounding.
TEST(ImageIoTest, AlphaIsCompositedOntoWhite) {
  bagel::testing::TempDir dir;
  const std::string path = dir.File("rgba.png");
  const std::vector<uint8_t> rgba = {10, 20, 30, 0, 10, 20, 30, 255, 0, 0, 0, 128};
  std::ofstream(path, std::ios::binary) << imaging::EncodePngRgba(rgba, 1, 3);
  at::Tensor img = ReadImageRgb(path);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 3, 3}));
  EXPECT_EQ(img[0][0][0].item<uint8_t>(), 255);
  EXPECT_EQ(img[0][1][2].item<uint8_t>(), 30);
  EXPECT_EQ(img[0][2][1].item<uint8_t>(), 127);
}

TEST(ImageIoTest, UnreadableFilesAreNamed) {
  try {
    ReadImageRgb("/nonexistent/picture.png");
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("/nonexistent/picture.png"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace bagel
