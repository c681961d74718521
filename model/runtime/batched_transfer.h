// Moves a batch's host tensors to a device in one copy: they are packed, each at a 64-byte
// aligned offset, into one (pinned, on CUDA) byte buffer, the buffer goes over in one
// non-blocking copy, and each tensor becomes a view of the device buffer with its own dtype and
// shape. A packed batch holds a dozen index and value tensors; moved one by one from pageable
// memory, each would be a copy the host waits for (docs/PERFORMANCE.md, "One fused optimizer
// pass and no host synchronisation").
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace bagel {

// Replaces every defined tensor in `tensors` (host tensors, any dtype and shape) by its copy on
// `device`, made by one transfer. Undefined tensors stay undefined; tensors already on `device`
// are left as they are.
void TransferTogether(const std::vector<at::Tensor*>& tensors, const at::Device& device);

}  // namespace bagel
