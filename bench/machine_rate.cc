#include "bench/machine_rate.h"

#include <ATen/ATen.h>

#include <chrono>

namespace bagel::bench {

double MeasureCpuMatmulFlops(int size, int repeats) {
  at::Tensor a = at::randn({size, size}), b = at::randn({size, size});
  at::mm(a, b);  // warm-up
  double best = 0;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor c = at::mm(a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * size * size * size / s);
  }
  return best;
}

}  // namespace bagel::bench
