// GPU memory of this machine as the NVIDIA driver reports it, for bagel-worker's metrics
// (bagel_gpu_memory_used_bytes, bagel_gpu_memory_total_bytes). Read with `nvidia-smi` (which the
// NVIDIA container toolkit mounts into GPU pods), so the agent links no CUDA or NVML library.
// The trainer's own mem_bytes is its process's peak host memory (docs/TRAINER_CONTRACT.md); the
// driver's view is what an operator needs to see an out-of-memory coming.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace bagel::agent {

struct GpuMemory {
  int index = 0;
  int64_t used_bytes = 0;
  int64_t total_bytes = 0;
};

// Parses the output of
//   nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv,noheader,nounits
// (MiB). INVALID_ARGUMENT names the first line that does not parse.
absl::StatusOr<std::vector<GpuMemory>> ParseNvidiaSmiMemory(const std::string& csv);

// Runs that query with `nvidia_smi` (a path or a name looked up in PATH). UNAVAILABLE when it
// cannot be run or fails (no GPU, no driver): the caller exports no GPU memory series then.
absl::StatusOr<std::vector<GpuMemory>> QueryGpuMemory(const std::string& nvidia_smi = "nvidia-smi");

}  // namespace bagel::agent
