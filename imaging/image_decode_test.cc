#include "imaging/image_decode.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "imaging/image_encode.h"
#include "testing/reference_data.h"

namespace bagel::imaging {
namespace {

using bagel::testing::ReadFileBytes;
using bagel::testing::ReferencePath;

// Every reference picture decodes to the pixels Pillow + pil_img2rgb give (exactly).
TEST(ImageDecode, EqualsPillowForEveryReferenceFormat) {
  const auto manifest = nlohmann::json::parse(ReadFileBytes(ReferencePath("manifest.json")));
  ASSERT_GE(manifest["decoded"].size(), 6u);
  for (const auto& [name, shape] : manifest["decoded"].items()) {
    SCOPED_TRACE(name);
    const RgbImage img = DecodeImageFile(ReferencePath(name));
    ASSERT_EQ(img.height, shape[0].get<int64_t>());
    ASSERT_EQ(img.width, shape[1].get<int64_t>());
    const std::string expected = ReadFileBytes(ReferencePath(name + ".rgb"));
    ASSERT_EQ(expected.size(), img.pixels.size());
    int max_diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(int(uint8_t(expected[i])) - int(img.pixels[i])));
    }
    EXPECT_EQ(max_diff, 0);
  }
}

TEST(ImageDecode, PngAndJpegRoundTrip) {
  RgbImage img(9, 13);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
  EXPECT_EQ(DecodeImage(EncodePng(img), "png").pixels, img.pixels);
  const RgbImage jpeg = DecodeImage(EncodeJpeg(img, 95), "jpeg");
  EXPECT_EQ(jpeg.height, 9);
  EXPECT_EQ(jpeg.width, 13);
}

TEST(ImageDecode, RgbaIsCompositedOnWhite) {
  std::vector<uint8_t> rgba = {0, 0, 0, 0, 0, 0, 0, 255, 100, 50, 0, 128};
  const RgbImage img = DecodeImage(EncodePngRgba(rgba, 1, 3), "rgba");
  EXPECT_EQ(std::vector<uint8_t>(img.pixels.begin(), img.pixels.begin() + 6),
            (std::vector<uint8_t>{255, 255, 255, 0, 0, 0}));
}

void ExpectDecodeError(const std::string& bytes, const std::string& what) {
  try {
    DecodeImage(bytes, what);
    FAIL() << "no error for " << what;
  } catch (const ImageDecodeError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(ImageDecode, CorruptDataIsAnErrorNamingTheSource) {
  const std::string png = ReadFileBytes(ReferencePath("rgb.png"));
  const std::string jpg = ReadFileBytes(ReferencePath("rgb.jpg"));
  ExpectDecodeError("", "empty.png");
  ExpectDecodeError("this is not an image", "text.jpg");
  ExpectDecodeError(png.substr(0, png.size() / 2), "half.png");
  std::string bad_png = png;
  for (size_t i = 100; i < 200 && i < bad_png.size(); ++i)
    bad_png[i] = static_cast<char>(~bad_png[i]);
  ExpectDecodeError(bad_png, "flipped.png");
  ExpectDecodeError(jpg.substr(0, 40), "header_only.jpg");
}

TEST(ImageDecode, MissingFileIsAnErrorNamingThePath) {
  try {
    DecodeImageFile("/nonexistent/picture.png");
    FAIL();
  } catch (const ImageDecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/picture.png"), std::string::npos);
  }
}

}  // namespace
}  // namespace bagel::imaging
