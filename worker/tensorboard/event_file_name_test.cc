#include "worker/tensorboard/event_file_name.h"

#include <gtest/gtest.h>

namespace bagel::tensorboard {
namespace {

TEST(EventFileNameTest, HasTensorBoardsPattern) {
  EXPECT_EQ(EventFileName(1700000000, "node-3", 4242, 0),
            "events.out.tfevents.1700000000.node-3.4242.0");
}

TEST(EventFileNameTest, PadsSecondsSoNamesSortByTime) {
  EXPECT_EQ(EventFileName(999, "h", 1, 7), "events.out.tfevents.0000000999.h.1.7");
  EXPECT_LT(EventFileName(999, "h", 1, 0), EventFileName(1000, "h", 1, 0));
}

TEST(EventFileNameTest, HostNameIsOneNonEmptyPathComponent) {
  const std::string host = HostNameForEventFile();
  EXPECT_FALSE(host.empty());
  EXPECT_EQ(host.find('/'), std::string::npos);
}

}  // namespace
}  // namespace bagel::tensorboard
