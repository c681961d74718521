#include "model/runtime/batched_transfer.h"

#include <c10/util/Exception.h>

#include <cstring>

namespace bagel {

void TransferTogether(const std::vector<at::Tensor*>& tensors, const at::Device& device) {
  constexpr int64_t kAlign = 64;  // any element type's alignment, and a cache line
  std::vector<at::Tensor*> moving;
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (at::Tensor* t : tensors) {
    if (!t->defined() || t->device() == device) continue;
    TORCH_CHECK(t->is_cpu(), "TransferTogether moves host tensors, got one on ", t->device());
    *t = t->contiguous();
    moving.push_back(t);
    offsets.push_back(total);
    total += (static_cast<int64_t>(t->nbytes()) + kAlign - 1) / kAlign * kAlign;
  }
  if (moving.empty()) return;
  at::Tensor host =
      at::empty({total}, at::TensorOptions().dtype(at::kByte).pinned_memory(device.is_cuda()));
  auto* base = host.mutable_data_ptr<uint8_t>();
  for (size_t i = 0; i < moving.size(); ++i) {
    if (moving[i]->nbytes() == 0) continue;  // an empty tensor may have no data pointer
    std::memcpy(base + offsets[i], moving[i]->const_data_ptr(), moving[i]->nbytes());
  }
  // From pinned memory the copy is queued on the current stream and the host goes on; the
  // caching host allocator keeps the staging buffer until the copy has run.
  const at::Tensor on_device = host.to(device, /*non_blocking=*/true);
  for (size_t i = 0; i < moving.size(); ++i) {
    const at::Tensor& t = *moving[i];
    const int64_t bytes = static_cast<int64_t>(t.nbytes());
    *moving[i] = on_device.narrow(0, offsets[i], bytes).view(t.scalar_type()).view(t.sizes());
  }
}

}  // namespace bagel
