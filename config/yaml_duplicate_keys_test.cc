#include "config/yaml_duplicate_keys.h"

#include <gtest/gtest.h>

namespace bagel::config {
namespace {

TEST(YamlDuplicateKeysTest, NamesEveryRepeatedKeyWithBothLines) {
  const YAML::Node root = YAML::Load(
      "train:\n"                                // 1
      "  lr: 1.0e-4\n"                          // 2
      "  steps: 10\n"                           // 3
      "  lr: 2.0e-4\n"                          // 4
      "data:\n"                                 // 5
      "  groups:\n"                             // 6
      "    - {name: a, type: text, name: b}\n"  // 7
      "train: {}\n");                           // 8
  const auto found = FindDuplicateKeys(root);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].path, "train.lr");
  EXPECT_EQ(found[0].first_line, 2);
  EXPECT_EQ(found[0].second_line, 4);
  EXPECT_EQ(found[1].path, "data.groups[0].name");
  EXPECT_EQ(found[1].first_line, 7);
  EXPECT_EQ(found[1].second_line, 7);
  EXPECT_EQ(found[2].path, "train");
  EXPECT_EQ(found[2].first_line, 1);
  EXPECT_EQ(found[2].second_line, 8);
}

TEST(YamlDuplicateKeysTest, DistinctKeysAndScalarsAreFine) {
  EXPECT_TRUE(FindDuplicateKeys(YAML::Load("a: 1\nb: {a: 1, b: [1, {a: 2}]}\n")).empty());
  EXPECT_TRUE(FindDuplicateKeys(YAML::Load("just a scalar")).empty());
  EXPECT_TRUE(FindDuplicateKeys(YAML::Load("[a, a, a]")).empty());
}

}  // namespace
}  // namespace bagel::config
