// Process-wide GEMM and attention settings of a CUDA run, set once before the first kernel.
#pragma once

#include <string>

namespace bagel {

// bf16 (and fp16) GEMMs accumulate in float32 all the way: cuBLAS may otherwise reduce split-K
// partial sums in bf16 (PyTorch's default allows it), which is not "bf16 matmuls with float32
// accumulation". float32 GEMMs stay IEEE (no TF32). No-op without CUDA.
void UseFloat32Accumulation();

// The order in which scaled-dot-product attention tries its CUDA backends: "default" (torch's),
// "cudnn-last" (flash, efficient, math, then cuDNN) or "cudnn-first". Throws c10::Error on
// another name. The GPU checks A/B the first two (scripts/gpu_checks.sh).
void SetSdpaPriority(const std::string& order);

}  // namespace bagel
