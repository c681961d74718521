// Which device a rank trains on, and making it the thread's current device before anything is
// created (docs/TRAINER_CONTRACT.md, "Devices").
//
// The agent (like torchrun) makes all of a job's GPUs on a machine visible to each of its ranks
// (CUDA_VISIBLE_DEVICES) and numbers the ranks there with LOCAL_RANK; rank LOCAL_RANK trains on
// visible GPU LOCAL_RANK. Two ranks never share a GPU: a LOCAL_RANK without its own visible GPU is
// an error, not a wrap-around (NCCL refuses two ranks on one device, and they would not fit).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace bagel::train {

struct DeviceRequest {
  std::string forced;           // BAGEL_DEVICE: "", "cpu" or "cuda"
  int64_t gpus_per_worker = 0;  // the spec's parallel.gpus_per_worker
  int visible_gpus = 0;         // CUDA devices this process sees
  int local_rank = 0;
  int local_world_size = 1;
};

// cpu, or cuda:<local_rank>; c10::Error naming the variable when the request cannot be met.
at::Device SelectRankDevice(const DeviceRequest& request);

// Makes `device` the current device of this thread (a CUDA device: cudaSetDevice), so that
// whatever allocates on "the current device" -- NCCL communicators, the caching allocator's raw
// allocations, cuBLAS handles -- uses this rank's GPU. No-op for the CPU.
void MakeCurrentDevice(const at::Device& device);

}  // namespace bagel::train
