#include "model/runtime/host_allocator.h"

#include <malloc.h>

#include <climits>

namespace bagel {

void KeepFreedHostMemoryInProcess() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

}  // namespace bagel
