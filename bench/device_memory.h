// Device synchronisation and peak-memory figures for the benchmarks (CUDA when present).
#pragma once

#include <c10/core/Device.h>

namespace bagel::bench {

void Synchronize(const c10::Device& device);
void ResetPeakDeviceMemory(const c10::Device& device);
double PeakDeviceMemory(const c10::Device& device);  // bytes allocated at peak; 0 on CPU

}  // namespace bagel::bench
