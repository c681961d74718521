#include "worker/fsdp/flat_unit.h"

#include <c10/core/Allocator.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/StorageImpl.h>
#include <c10/util/Exception.h>

namespace bagel::fsdp {

at::DataPtr AllocateOnDevice(size_t nbytes, const at::Device& device) {
  const c10::DeviceGuard guard(device);
  return c10::GetAllocator(device.type())->allocate(nbytes);
}

FlatUnit::FlatUnit(UnitPlan plan, int shard_rank, int shard_size, const at::Device& device,
                   at::ScalarType compute_dtype, FullBufferAllocator allocate)
    : name_(std::move(plan.name)),
      module_(plan.module),
      shard_rank_(shard_rank),
      shard_size_(shard_size),
      device_(device),
      compute_dtype_(compute_dtype),
      allocate_(std::move(allocate)) {
  for (auto& p : plan.params) {
    Slot s;
    s.name = p.name;
    s.param = p.param;
    s.shape = p.param.sizes().vec();
    s.offset = numel_;
    s.numel = p.param.numel();
    s.trainable = p.param.requires_grad();
    numel_ += s.numel;
    slots_.push_back(std::move(s));
  }
  shard_numel_ = (numel_ + shard_size_ - 1) / shard_size_;
  const int64_t lo = shard_begin(), hi = lo + shard_numel_;
  for (const Slot& s : slots_) {
    if (!s.trainable) continue;
    const int64_t b = std::max(lo, s.offset), e = std::min(hi, s.offset + s.numel);
    if (b >= e) continue;
    if (!trainable_ranges_.empty() && trainable_ranges_.back().second == b - lo) {
      trainable_ranges_.back().second = e - lo;
    } else {
      trainable_ranges_.emplace_back(b - lo, e - lo);
    }
  }
  const auto fp32 = at::TensorOptions().dtype(at::kFloat).device(device_);
  master = at::zeros({shard_numel_}, fp32);
}

void FlatUnit::SetMaster(const std::function<at::Tensor(const Slot&)>& value) {
  at::NoGradGuard no_grad;
  const int64_t lo = shard_begin(), hi = lo + shard_numel_;
  master.zero_();
  for (const Slot& s : slots_) {
    const int64_t b = std::max(lo, s.offset), e = std::min(hi, s.offset + s.numel);
    if (b >= e) continue;
    at::Tensor full = value(s);
    TORCH_CHECK(full.numel() == s.numel, "value for ", s.name, " has ", full.numel(),
                " elements, expected ", s.numel);
    master.narrow(0, b - lo, e - b).copy_(full.reshape({-1}).narrow(0, b - s.offset, e - b));
  }
}

void FlatUnit::Attach() {
  at::NoGradGuard no_grad;
  grad = at::zeros_like(master);
  exp_avg = at::zeros_like(master);
  exp_avg_sq = at::zeros_like(master);
  ema = master.clone();
  full_ = at::empty({padded_numel()}, at::TensorOptions().dtype(compute_dtype_).device(device_));
  for (Slot& s : slots_) {
    // What Variable::set_data does, without its same-backend check: parameters built on the
    // meta device (nothing allocated per rank) become CPU/CUDA views of the full buffer. The
    // parameters are fresh leaves (no gradient accumulator yet), so nothing else must change.
    TORCH_INTERNAL_ASSERT(!s.param.grad().defined(), s.name, " already has a gradient");
    at::Tensor view = full_.narrow(0, s.offset, s.numel).view(s.shape);
    s.param.unsafeGetTensorImpl()->shallow_copy_from(view.getIntrusivePtr());
  }
  FreeFull();
}

void FlatUnit::AllocateFull() {
  c10::StorageImpl* storage = full_.storage().unsafeGetStorageImpl();
  const size_t nbytes = static_cast<size_t>(padded_numel()) * c10::elementSize(compute_dtype_);
  if (storage->nbytes() == nbytes) return;
  at::DataPtr data = allocate_(nbytes, device_);
  // A device without an index (cpu) matches any index the allocator reports for it.
  TORCH_INTERNAL_ASSERT(data.device().type() == device_.type() &&
                            (!device_.has_index() || data.device().index() == device_.index()),
                        name_, ": the full buffer was allocated on ", data.device(),
                        " but the unit lives on ", device_);
  storage->set_data_ptr_noswap(std::move(data));
  storage->set_nbytes(nbytes);
}

void FlatUnit::FreeFull() {
  if (!full_.defined()) return;
  c10::StorageImpl* storage = full_.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(at::DataPtr(nullptr, device_));
  storage->set_nbytes(0);
  unsharded_ = false;
}

dist::PendingCollective FlatUnit::StartGather(dist::Communicator& shard_group) {
  AllocateFull();
  gather_input_ = master.scalar_type() == compute_dtype_ ? master : master.to(compute_dtype_);
  return shard_group.AllGatherAsync(full_, gather_input_);
}

void FlatUnit::ReduceGradients(dist::Communicator& shard_group, dist::Communicator* replicas,
                               int64_t world_size) {
  at::NoGradGuard no_grad;
  at::Tensor flat =
      at::zeros({padded_numel()}, at::TensorOptions().dtype(compute_dtype_).device(device_));
  for (Slot& s : slots_) {
    at::Tensor& g = s.param.mutable_grad();
    if (!g.defined()) continue;
    flat.narrow(0, s.offset, s.numel).copy_(g.reshape({-1}));
    g.reset();
  }
  at::Tensor out = at::empty({shard_numel_}, flat.options());
  shard_group.ReduceScatterSum(out, flat);
  if (replicas != nullptr) replicas->AllReduceSum(out);
  grad.add_(out.to(at::kFloat), 1.0 / static_cast<double>(world_size));
}

}  // namespace bagel::fsdp
