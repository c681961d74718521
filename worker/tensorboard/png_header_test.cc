#include "worker/tensorboard/png_header.h"

#include <gtest/gtest.h>

#include <string>

#include "worker/tensorboard/testing_events.h"

namespace bagel::tensorboard {
namespace {

using testing::PngStart;

TEST(PngHeaderTest, ReadsSizeAndChannelsOfEveryColourType) {
  const std::pair<uint8_t, int> expected[] = {{0, 1}, {2, 3}, {3, 3}, {4, 2}, {6, 4}};
  for (const auto& [colour_type, channels] : expected) {
    const auto header = ReadPngHeader(PngStart(640, 480, colour_type));
    ASSERT_TRUE(header.has_value()) << int{colour_type};
    EXPECT_EQ(header->width, 640);
    EXPECT_EQ(header->height, 480);
    EXPECT_EQ(header->channels, channels) << int{colour_type};
  }
}

TEST(PngHeaderTest, RefusesWhatIsNotAPng) {
  EXPECT_FALSE(ReadPngHeader("").has_value());
  EXPECT_FALSE(ReadPngHeader("\xff\xd8\xff\xe0 a JPEG file, not a PNG one").has_value());
  std::string truncated = PngStart(4, 4, 2);
  truncated.resize(20);
  EXPECT_FALSE(ReadPngHeader(truncated).has_value());
  EXPECT_FALSE(ReadPngHeader(PngStart(0, 4, 2)).has_value());
  EXPECT_FALSE(ReadPngHeader(PngStart(4, 4, 5)).has_value());  // no colour type 5
  std::string not_ihdr = PngStart(4, 4, 2);
  not_ihdr.replace(12, 4, "IDAT");
  EXPECT_FALSE(ReadPngHeader(not_ihdr).has_value());
}

}  // namespace
}  // namespace bagel::tensorboard
