#include "tokenizer/merge_table.h"

#include <gtest/gtest.h>

namespace bagel::tokenizer {
namespace {

TEST(MergeTableTest, FindsInsertedRulesOnly) {
  MergeTable table(4);
  table.Insert(1, 2, {0, 10});
  table.Insert(2, 1, {1, 11});
  ASSERT_NE(table.Find(1, 2), nullptr);
  EXPECT_EQ(table.Find(1, 2)->rank, 0);
  EXPECT_EQ(table.Find(1, 2)->merged, 10);
  EXPECT_EQ(table.Find(2, 1)->merged, 11);
  EXPECT_EQ(table.Find(1, 1), nullptr);
  EXPECT_EQ(table.Find(0, 0), nullptr);
  EXPECT_EQ(table.size(), 2u);
}

TEST(MergeTableTest, ALaterRuleForThePairReplacesTheEarlier) {
  MergeTable table;
  table.Insert(5, 6, {3, 7});
  table.Insert(5, 6, {9, 8});
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Find(5, 6)->rank, 9);
  EXPECT_EQ(table.Find(5, 6)->merged, 8);
}

TEST(MergeTableTest, GrowsPastItsExpectedSize) {
  MergeTable table(1);
  for (TokenId i = 0; i < 5000; ++i) table.Insert(i, i * 7 + 1, {i, i + 100000});
  EXPECT_EQ(table.size(), 5000u);
  for (TokenId i = 0; i < 5000; ++i) {
    const MergeRule* rule = table.Find(i, i * 7 + 1);
    ASSERT_NE(rule, nullptr);
    EXPECT_EQ(rule->rank, i);
    EXPECT_EQ(rule->merged, i + 100000);
    EXPECT_EQ(table.Find(i * 7 + 1, i + 1), nullptr);
  }
}

}  // namespace
}  // namespace bagel::tokenizer
