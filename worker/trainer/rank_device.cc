#include "worker/trainer/rank_device.h"

#include <ATen/DeviceAccelerator.h>
#include <c10/util/Exception.h>

#include <cstdlib>

namespace bagel::train {

at::Device SelectRankDevice(const DeviceRequest& r) {
  const std::string want =
      !r.forced.empty() ? r.forced : (r.gpus_per_worker > 0 && r.visible_gpus > 0 ? "cuda" : "cpu");
  if (want == "cpu") return at::kCPU;
  TORCH_CHECK(want == "cuda", "BAGEL_DEVICE must be cpu or cuda, got '", want, "'");
  TORCH_CHECK(r.visible_gpus > 0, "BAGEL_DEVICE=cuda but no GPU is visible");
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  TORCH_CHECK(r.local_rank >= 0 && r.local_rank < r.visible_gpus, "LOCAL_RANK ", r.local_rank,
              " (of LOCAL_WORLD_SIZE ", r.local_world_size,
              ") has no GPU of its own: ", r.visible_gpus,
              " visible (CUDA_VISIBLE_DEVICES=", visible ? visible : "<unset>",
              "); each local rank needs one");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(r.local_rank));
}

void MakeCurrentDevice(const at::Device& device) {
  if (!device.is_cuda()) return;
  TORCH_INTERNAL_ASSERT(device.has_index(), "a rank's device needs an index");
  at::accelerator::setDeviceIndex(device.index());
  TORCH_INTERNAL_ASSERT(at::accelerator::getDeviceIndex() == device.index(),
                        "the current device is not ", device, " after setting it");
}

}  // namespace bagel::train
