#include "worker/trainer/rank_device.h"

#include <gtest/gtest.h>

namespace bagel::train {
namespace {

std::string ErrorOf(const DeviceRequest& r) {
  try {
    SelectRankDevice(r);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

TEST(RankDeviceTest, EachLocalRankGetsItsOwnVisibleGpu) {
  for (int rank = 0; rank < 8; ++rank) {
    const at::Device d = SelectRankDevice({"", 8, 8, rank, 8});
    EXPECT_EQ(d, at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(rank)));
  }
}

TEST(RankDeviceTest, CpuWithoutGpusOrWhenForced) {
  EXPECT_EQ(SelectRankDevice({"", 0, 8, 3, 8}), at::Device(at::kCPU));  // a CPU job
  EXPECT_EQ(SelectRankDevice({"", 2, 0, 1, 2}), at::Device(at::kCPU));  // no GPU here
  EXPECT_EQ(SelectRankDevice({"cpu", 8, 8, 0, 8}), at::Device(at::kCPU));
}

// Two ranks on one GPU is refused, never wrapped around (the old local_rank % gpus).
TEST(RankDeviceTest, ARankWithoutItsOwnGpuIsAnError) {
  EXPECT_NE(ErrorOf({"", 4, 2, 3, 4})
                .find("LOCAL_RANK 3 (of LOCAL_WORLD_SIZE 4) has no GPU of its own: 2 visible"),
            std::string::npos)
      << ErrorOf({"", 4, 2, 3, 4});
  EXPECT_NE(ErrorOf({"cuda", 1, 0, 0, 1}).find("no GPU is visible"), std::string::npos);
  EXPECT_NE(ErrorOf({"tpu", 1, 1, 0, 1}).find("BAGEL_DEVICE must be cpu or cuda"),
            std::string::npos);
}

TEST(RankDeviceTest, TheCpuNeedsNoCurrentDevice) { MakeCurrentDevice(at::kCPU); }

}  // namespace
}  // namespace bagel::train
