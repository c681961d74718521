// One fully sharded unit: its parameters laid end to end in a flat buffer, padded to a multiple
// of the shard-group size, of which this rank owns one contiguous shard.
//
// The rank keeps float32 master values, gradients, AdamW moments and the EMA for its shard
// only. The module's parameters are views into a full buffer in the compute dtype whose storage
// exists only while the unit is unsharded (gathered): FreeFull() releases it, AllocateFull()
// brings it back, and every view -- including tensors autograd saved -- sees the new memory.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "worker/dist/communicator.h"
#include "worker/fsdp/unit_plan.h"

namespace bagel::fsdp {

// Allocates `nbytes` for a unit's gathered full buffer on `device`. A storage's own allocator
// allocates on the thread's *current* device, which is not this rank's GPU unless someone set
// it; this is the one place that decides, and every unit checks what it returns.
using FullBufferAllocator = std::function<at::DataPtr(size_t nbytes, const at::Device& device)>;

// The default: the device's allocator under a device guard for `device`.
at::DataPtr AllocateOnDevice(size_t nbytes, const at::Device& device);

struct Slot {
  std::string name;  // checkpoint key
  at::Tensor param;  // the module's parameter
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in the flat buffer
  int64_t numel = 0;
  bool trainable = true;
};

class FlatUnit {
 public:
  // Every tensor of the unit lives on `device`; the gathered full buffer comes from `allocate`
  // (AllocateOnDevice unless a test injects another) and must be on `device`.
  FlatUnit(UnitPlan plan, int shard_rank, int shard_size, const at::Device& device,
           at::ScalarType compute_dtype, FullBufferAllocator allocate = AllocateOnDevice);

  const std::string& name() const { return name_; }
  const torch::nn::Module* module() const { return module_; }
  const std::vector<Slot>& slots() const { return slots_; }
  int64_t numel() const { return numel_; }
  int64_t padded_numel() const { return shard_numel_ * shard_size_; }
  int64_t shard_numel() const { return shard_numel_; }
  int64_t shard_begin() const { return shard_numel_ * shard_rank_; }
  bool unsharded() const { return unsharded_; }
  bool has_trainable() const { return !trainable_ranges_.empty(); }
  // [begin, end) ranges of this rank's shard (shard coordinates) that belong to trainable
  // parameters; optimizer, clipping and EMA touch only these.
  const std::vector<std::pair<int64_t, int64_t>>& trainable_ranges() const {
    return trainable_ranges_;
  }

  // Fills the master shard: `value(slot)` returns the slot's full value (any device/dtype; only
  // this shard's part is read, so a lazily mapped tensor reads just those bytes).
  void SetMaster(const std::function<at::Tensor(const Slot&)>& value);
  // After SetMaster: EMA = master, moments and gradients zero; the module's parameters become
  // views into the (released) full buffer.
  void Attach();

  // Gathering: StartGather allocates the full buffer and launches the all-gather of the master
  // shard in the compute dtype; the unit is unsharded once the returned collective completes.
  dist::PendingCollective StartGather(dist::Communicator& shard_group);
  void MarkUnsharded() { unsharded_ = true; }
  void FreeFull();

  // Reduces this unit's parameter gradients: flattened, summed within the shard group (and
  // across replicas), averaged over `world_size` ranks and added to the gradient shard. The
  // parameters' .grad are cleared.
  void ReduceGradients(dist::Communicator& shard_group, dist::Communicator* replicas,
                       int64_t world_size);

  // Shard state (float32, [shard_numel]).
  at::Tensor master, grad, exp_avg, exp_avg_sq, ema;

 private:
  void AllocateFull();

  std::string name_;
  const torch::nn::Module* module_;
  std::vector<Slot> slots_;
  int shard_rank_, shard_size_;
  int64_t numel_ = 0, shard_numel_ = 0;
  at::Device device_;
  at::ScalarType compute_dtype_;
  FullBufferAllocator allocate_;
  at::Tensor full_;          // [padded] in the compute dtype; storage only while unsharded
  at::Tensor gather_input_;  // kept alive while an all-gather reads it
  bool unsharded_ = false;
  std::vector<std::pair<int64_t, int64_t>> trainable_ranges_;
};

}  // namespace bagel::fsdp
