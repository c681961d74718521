#include "model/inference/image_io.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <filesystem>

namespace bagel {
namespace {

namespace fs = std::filesystem;

TEST(ImageIoTest, PngRoundTripsExactly) {
  const std::string path = (fs::temp_directory_path() / "image_io_test_rgb.png").string();
  at::Tensor img = at::randint(0, 256, {5, 7, 3}, at::kLong).to(at::kByte);
  WritePng(path, img);
  at::Tensor back = ReadImageRgb(path);
  fs::remove(path);
  EXPECT_TRUE(at::equal(back, img));
}

TEST(ImageIoTest, AlphaIsCompositedOntoWhiteAndGreyExpanded) {
  const std::string path = (fs::temp_directory_path() / "image_io_test_rgba.png").string();
  const uint8_t rgba[] = {10, 20, 30, 0, 10, 20, 30, 255, 0, 0, 0, 128};
  ASSERT_NE(stbi_write_png(path.c_str(), 3, 1, 4, rgba, 12), 0);
  at::Tensor img = ReadImageRgb(path);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 3, 3}));
  EXPECT_EQ(img[0][0][0].item<uint8_t>(), 255);
  EXPECT_EQ(img[0][1][2].item<uint8_t>(), 30);
  EXPECT_EQ(img[0][2][1].item<uint8_t>(), 127);
  const uint8_t grey[] = {9, 200};
  ASSERT_NE(stbi_write_png(path.c_str(), 2, 1, 1, grey, 2), 0);
  img = ReadImageRgb(path);
  EXPECT_EQ(img[0][1][0].item<uint8_t>(), 200);
  EXPECT_EQ(img[0][1][2].item<uint8_t>(), 200);
  fs::remove(path);
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
