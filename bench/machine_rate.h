// The machine's attainable fp32 matrix-multiply rate on the CPU (BENCH.md: torch.mm 2048x2048,
// best of 4), the bound executed FLOP/s is reported against.
#pragma once

namespace bagel::bench {

double MeasureCpuMatmulFlops(int size = 2048, int repeats = 4);

}  // namespace bagel::bench
