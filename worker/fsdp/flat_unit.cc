#include "worker/fsdp/flat_unit.h"

#include <c10/core/Allocator.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/StorageImpl.h>
#include <c10/util/Exception.h>

namespace bagel::fsdp {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// This rank's part [lo, lo + shard) of a flat buffer of `numel` elements, zero-padded.
at::Tensor ShardOf(const at::Tensor& flat, int64_t numel, int64_t shard, int rank) {
  at::Tensor mine = at::zeros({shard}, flat.options());
  const int64_t lo = shard * rank;
  const int64_t n = std::max<int64_t>(0, std::min(numel, lo + shard) - lo);
  if (n > 0) mine.narrow(0, 0, n).copy_(flat.narrow(0, lo, n));
  return mine;
}

}  // namespace

at::DataPtr AllocateOnDevice(size_t nbytes, const at::Device& device) {
  const c10::DeviceGuard guard(device);
  return c10::GetAllocator(device.type())->allocate(nbytes);
}

FlatUnit::FlatUnit(UnitPlan plan, int shard_rank, int shard_size, UnitPlacement placement)
    : name_(std::move(plan.name)),
      module_(plan.module),
      shard_rank_(shard_rank),
      shard_size_(shard_size),
      placement_(std::move(placement)) {
  if (!placement_.allocate) placement_.allocate = AllocateOnDevice;
  for (auto& p : plan.params) {
    Slot s;
    s.name = p.name;
    s.param = p.param;
    s.shape = p.param.sizes().vec();
    s.numel = p.param.numel();
    s.trainable = p.param.requires_grad();
    int64_t& cursor = s.trainable ? trainable_numel_ : frozen_numel_;
    s.offset = cursor;
    cursor += s.numel;
    slots_.push_back(std::move(s));
  }
  trainable_shard_ = CeilDiv(trainable_numel_, shard_size_);
  frozen_shard_ = CeilDiv(frozen_numel_, shard_size_);
  for (Slot& s : slots_) {
    s.full_offset = s.trainable ? s.offset : trainable_shard_ * shard_size_ + s.offset;
  }
  auto state = at::TensorOptions().dtype(at::kFloat).device(state_device());
  // Pinned host memory makes the offloaded copies asynchronous DMA.
  if (placement_.optimizer_offload && placement_.device.is_cuda())
    state = state.pinned_memory(true);
  master = at::zeros({trainable_shard_}, state);
  frozen = at::zeros({frozen_shard_},
                     at::TensorOptions().dtype(placement_.compute_dtype).device(placement_.device));
}

at::Device FlatUnit::state_device() const {
  return placement_.optimizer_offload ? at::Device(at::kCPU) : placement_.device;
}

void FlatUnit::SetMaster(const std::function<at::Tensor(const Slot&)>& value) {
  at::NoGradGuard no_grad;
  master.zero_();
  frozen.zero_();
  for (const Slot& s : slots_) {
    const int64_t shard = s.trainable ? trainable_shard_ : frozen_shard_;
    const int64_t lo = shard * shard_rank_, hi = lo + shard;
    const int64_t b = std::max(lo, s.offset), e = std::min(hi, s.offset + s.numel);
    if (b >= e) continue;
    at::Tensor full = value(s);
    TORCH_CHECK(full.numel() == s.numel, "value for ", s.name, " has ", full.numel(),
                " elements, expected ", s.numel);
    at::Tensor& target = s.trainable ? master : frozen;
    target.narrow(0, b - lo, e - b).copy_(full.reshape({-1}).narrow(0, b - s.offset, e - b));
  }
}

void FlatUnit::Attach() {
  at::NoGradGuard no_grad;
  const auto on_device = at::TensorOptions().device(placement_.device);
  grad = at::zeros({trainable_shard_}, on_device.dtype(at::kFloat));
  exp_avg = at::zeros_like(master);
  exp_avg_sq = at::zeros_like(master);
  ema = master.clone();
  const bool master_is_compute =
      !placement_.optimizer_offload && placement_.compute_dtype == at::kFloat;
  compute_ = master_is_compute
                 ? master
                 : at::empty({trainable_shard_}, on_device.dtype(placement_.compute_dtype));
  full_ = at::empty({padded_numel()}, on_device.dtype(placement_.compute_dtype));
  full_trainable_ = full_.narrow(0, 0, trainable_shard_ * shard_size_);
  full_frozen_ = full_.narrow(0, trainable_shard_ * shard_size_, frozen_shard_ * shard_size_);
  resident_ = placement_.resident_if_alone && shard_size_ == 1;
  if (resident_) {
    // The shards become views of the one persistent buffer the parameters view (allocated
    // through the placement's allocator, so its device is checked like a gather's).
    c10::StorageImpl* storage = full_.storage().unsafeGetStorageImpl();
    storage->set_data_ptr_noswap(at::DataPtr(nullptr, placement_.device));
    storage->set_nbytes(0);
    AllocateFull();
    full_trainable_.copy_(master_is_compute ? master : master.to(placement_.compute_dtype));
    full_frozen_.copy_(frozen);
    frozen = full_frozen_;
    if (master_is_compute) {
      master = full_trainable_;
      compute_ = master;
    } else {
      compute_ = full_trainable_;
    }
  } else {
    SyncComputeShard();
  }
  for (Slot& s : slots_) {
    // What Variable::set_data does, without its same-backend check: parameters built on the
    // meta device (nothing allocated per rank) become CPU/CUDA views of the full buffer. The
    // parameters are fresh leaves (no gradient accumulator yet), so nothing else must change.
    TORCH_INTERNAL_ASSERT(!s.param.grad().defined(), s.name, " already has a gradient");
    at::Tensor view = full_.narrow(0, s.full_offset, s.numel).view(s.shape);
    s.param.unsafeGetTensorImpl()->shallow_copy_from(view.getIntrusivePtr());
  }
  if (resident_) {
    unsharded_ = true;
  } else {
    FreeFull();
  }
}

void FlatUnit::SyncComputeShard() {
  if (!compute_.defined() || compute_.is_same(master)) return;
  at::NoGradGuard no_grad;
  compute_.copy_(master, /*non_blocking=*/master.is_pinned());
}

void FlatUnit::AllocateFull() {
  c10::StorageImpl* storage = full_.storage().unsafeGetStorageImpl();
  const size_t nbytes =
      static_cast<size_t>(padded_numel()) * c10::elementSize(placement_.compute_dtype);
  if (storage->nbytes() == nbytes) return;
  const at::Device& device = placement_.device;
  at::DataPtr data = placement_.allocate(nbytes, device);
  // A device without an index (cpu) matches any index the allocator reports for it.
  TORCH_INTERNAL_ASSERT(data.device().type() == device.type() &&
                            (!device.has_index() || data.device().index() == device.index()),
                        name_, ": the full buffer was allocated on ", data.device(),
                        " but the unit lives on ", device);
  storage->set_data_ptr_noswap(std::move(data));
  storage->set_nbytes(nbytes);
}

void FlatUnit::FreeFull() {
  if (!full_.defined() || resident_) return;
  c10::StorageImpl* storage = full_.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(at::DataPtr(nullptr, placement_.device));
  storage->set_nbytes(0);
  unsharded_ = false;
}

PendingGather FlatUnit::StartGather(dist::Communicator& shard_group) {
  if (resident_) return {};  // nothing to gather: the parameters are the shard
  AllocateFull();
  dist::PendingCollective trainable, frozen_part;
  if (trainable_shard_ > 0) trainable = shard_group.AllGatherAsync(full_trainable_, compute_);
  if (frozen_shard_ > 0) frozen_part = shard_group.AllGatherAsync(full_frozen_, frozen);
  return PendingGather(std::move(trainable), std::move(frozen_part));
}

FlatUnit::PendingReduce FlatUnit::StartReduceGradients(dist::Communicator& shard_group,
                                                       bool has_replicas) {
  at::NoGradGuard no_grad;
  PendingReduce pending;
  if (trainable_shard_ == 0) return pending;  // the same on every rank: no collective skipped alone
  const auto options =
      at::TensorOptions().dtype(placement_.compute_dtype).device(placement_.device);
  if (shard_group.size() == 1 && !has_replicas) {
    // Alone (one rank): nothing to reduce; each gradient goes straight into the shard.
    TakeGradients(grad, /*accumulate=*/!grad_stale_);
    grad_stale_ = false;
    return pending;
  }
  at::Tensor flat = at::empty({trainable_shard_ * shard_size_}, options);
  TakeGradients(flat, /*accumulate=*/false);
  pending.unit_ = this;
  pending.out_ = at::empty({trainable_shard_}, options);
  pending.flat_ = flat;
  pending.work_ = shard_group.ReduceScatterSumAsync(pending.out_, pending.flat_);
  return pending;
}

void FlatUnit::TakeGradients(at::Tensor& dest, bool accumulate) {
  // Written slot by slot; only what no gradient covers (absent gradients, padding) is zeroed.
  int64_t covered = 0;
  for (Slot& s : slots_) {
    if (!s.trainable) continue;
    at::Tensor& g = s.param.mutable_grad();
    at::Tensor region = dest.narrow(0, s.offset, s.numel);
    if (g.defined()) {
      if (accumulate) {
        region.add_(g.reshape({-1}));
      } else {
        region.copy_(g.reshape({-1}));
      }
      g.reset();
    } else if (!accumulate) {
      region.zero_();
    }
    covered = std::max(covered, s.offset + s.numel);
  }
  if (!accumulate && dest.numel() > covered)
    dest.narrow(0, covered, dest.numel() - covered).zero_();
}

void FlatUnit::PendingReduce::Finish(dist::Communicator* replicas, int64_t world_size) {
  if (unit_ == nullptr) return;
  at::NoGradGuard no_grad;
  work_.WaitOnStream();
  flat_.reset();
  if (replicas != nullptr) replicas->AllReduceSum(out_, /*host_wait=*/false);
  const double scale = 1.0 / static_cast<double>(world_size);
  at::Tensor& grad = unit_->grad;
  const at::Tensor reduced = out_.scalar_type() == at::kFloat ? out_ : out_.to(at::kFloat);
  if (unit_->grad_stale_) {
    if (scale == 1.0) {
      grad.copy_(reduced);
    } else {
      at::mul_out(grad, reduced, scale);
    }
    unit_->grad_stale_ = false;
  } else {
    grad.add_(reduced, scale);
  }
  out_.reset();
  unit_ = nullptr;
}

at::Tensor& FlatUnit::CurrentGradient() {
  if (grad_stale_) {
    grad.zero_();
    grad_stale_ = false;
  }
  return grad;
}

at::Tensor FlatUnit::GatherTrainable(dist::Communicator& shard_group, bool use_ema) {
  at::NoGradGuard no_grad;
  at::Tensor src = (use_ema ? ema : master).to(placement_.device);
  at::Tensor out = at::empty({trainable_shard_ * shard_size_}, src.options());
  if (trainable_shard_ > 0) shard_group.AllGather(out, src);
  return out.narrow(0, 0, trainable_numel_);
}

at::Tensor FlatUnit::GatherFrozen(dist::Communicator& shard_group) {
  at::Tensor out = at::empty({frozen_shard_ * shard_size_}, frozen.options());
  if (frozen_shard_ > 0) shard_group.AllGather(out, frozen);
  return out.narrow(0, 0, frozen_numel_);
}

void FlatUnit::SetTrainableFromFlat(at::Tensor& target, const at::Tensor& flat) {
  TORCH_CHECK(flat.numel() == trainable_numel_, name_, ": ", flat.numel(),
              " trainable values, expected ", trainable_numel_);
  at::NoGradGuard no_grad;
  target.copy_(ShardOf(flat.to(at::kFloat), trainable_numel_, trainable_shard_, shard_rank_));
}

void FlatUnit::SetFrozenFromFlat(const at::Tensor& flat) {
  TORCH_CHECK(flat.numel() == frozen_numel_, name_, ": ", flat.numel(), " frozen values, expected ",
              frozen_numel_);
  at::NoGradGuard no_grad;
  frozen.copy_(ShardOf(flat, frozen_numel_, frozen_shard_, shard_rank_));
}

}  // namespace bagel::fsdp
