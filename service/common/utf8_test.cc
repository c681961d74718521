#include "service/common/utf8.h"

#include <gtest/gtest.h>

namespace bagel::service {
namespace {

TEST(Utf8Test, ValidatesAndSanitizes) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("bad \xff byte"));
  EXPECT_FALSE(IsValidUtf8("cut \xe2\x82"));
  EXPECT_FALSE(IsValidUtf8("overlong \xc0\xaf"));
  EXPECT_FALSE(IsValidUtf8("surrogate \xed\xa0\x80"));
  EXPECT_EQ(SanitizeUtf8("a\xffz\xe2\x82"), "a?z??");
  EXPECT_EQ(SanitizeUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
}

}  // namespace
}  // namespace bagel::service
