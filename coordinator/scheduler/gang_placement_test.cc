#include "coordinator/scheduler/gang_placement.h"

#include <gtest/gtest.h>

namespace bagel::coord {
namespace {

TEST(GangPlacementTest, AllOrNothing) {
  std::vector<WorkerCapacity> w = {{"a", 8, 8, 1, 1}, {"b", 8, 2, 1, 1}, {"c", 4, 4, 1, 0}};
  EXPECT_FALSE(PlaceGang({3, 4}, w).has_value());  // b has only 2 free GPUs
  auto two = PlaceGang({2, 4}, w);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(*two, (std::vector<std::string>{"c", "a"}));  // best fit first
  EXPECT_TRUE(CouldEverFit({3, 4}, w));
  EXPECT_FALSE(CouldEverFit({4, 4}, w));
  EXPECT_FALSE(CouldEverFit({1, 16}, w));
}

TEST(GangPlacementTest, CpuRanks) {
  std::vector<WorkerCapacity> w = {{"b", 0, 0, 1, 1}, {"a", 0, 0, 2, 2}, {"c", 0, 0, 1, 0}};
  auto p = PlaceGang({2, 0}, w);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (std::vector<std::string>{"b", "a"}));
  EXPECT_FALSE(PlaceGang({3, 0}, w).has_value());
  EXPECT_TRUE(CouldEverFit({3, 0}, w));
  EXPECT_FALSE(PlaceGang({0, 0}, w).has_value());
}

}  // namespace
}  // namespace bagel::coord
