// Keeps freed host memory in the process heap instead of returning it to the kernel.
//
// glibc serves allocations above 32 MB with mmap and unmaps them on free, so every training
// step on the CPU page-faults its large buffers (logits chunks, gradient accumulators) back in:
// ~10% of a BENCH.md small step here. Disabling mmap for malloc and heap trimming lets the
// next step reuse the same pages. Call once at the start of a compute process (bench, trainer);
// peak memory is unchanged, resident memory stays at its peak.
#pragma once

namespace bagel {

void KeepFreedHostMemoryInProcess();

}  // namespace bagel
