// One fully sharded unit: its parameters laid end to end in two flat buffers -- the trainable
// ones and the frozen ones -- each padded to a multiple of the shard-group size, of which this
// rank owns one contiguous shard.
//
// State exists only where it is needed. For the trainable shard the rank keeps float32 master
// values, gradients, the two AdamW moments and the EMA; the frozen shard is held once, in the
// compute dtype, and has no gradient, moments or EMA (its EMA is its value). With optimizer
// offload the master, moments and EMA live in host memory (pinned beside a GPU) and the device
// keeps only the compute-dtype shards and the gradient, as ZeRO-Offload does.
//
// The module's parameters are views into a full buffer in the compute dtype ([trainable |
// frozen], each gathered from its shards) whose storage exists only while the unit is unsharded:
// FreeFull() releases it, AllocateFull() brings it back, and every view -- including tensors
// autograd saved -- sees the new memory.
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

struct UnitPlacement {
  at::Device device = at::kCPU;               // compute shards, gradients, the full buffer
  at::ScalarType compute_dtype = at::kFloat;  // gathered parameters and gradients in transit
  // Master, moments and EMA in host memory; the optimizer step runs there.
  bool optimizer_offload = false;
  FullBufferAllocator allocate = AllocateOnDevice;
  // A unit alone in its shard group has nothing to gather: its parameters stay in one persistent
  // buffer -- the master itself in float32 without offload, else the compute-dtype copy the
  // optimizer step writes -- with no gather, copy or allocation per layer. Off: the gather path
  // as with several ranks (tests of that path on one rank).
  bool resident_if_alone = true;
};

struct Slot {
  std::string name;  // checkpoint key
  at::Tensor param;  // the module's parameter
  std::vector<int64_t> shape;
  bool trainable = true;
  int64_t offset = 0;       // in its flat buffer (trainable or frozen)
  int64_t full_offset = 0;  // in the gathered full buffer
  int64_t numel = 0;
};

// The two shard tensors a unit's gather reads from, and its pending collectives.
class PendingGather {
 public:
  PendingGather() = default;
  PendingGather(dist::PendingCollective trainable, dist::PendingCollective frozen)
      : trainable_(std::move(trainable)), frozen_(std::move(frozen)) {}
  // Stream-ordered on a GPU (the host goes on), blocking elsewhere.
  void Wait() {
    trainable_.WaitOnStream();
    frozen_.WaitOnStream();
  }

 private:
  dist::PendingCollective trainable_, frozen_;
};

class FlatUnit {
 public:
  FlatUnit(UnitPlan plan, int shard_rank, int shard_size, UnitPlacement placement);

  const std::string& name() const { return name_; }
  const torch::nn::Module* module() const { return module_; }
  const std::vector<Slot>& slots() const { return slots_; }
  int64_t numel() const { return trainable_numel_ + frozen_numel_; }
  int64_t trainable_numel() const { return trainable_numel_; }
  int64_t frozen_numel() const { return frozen_numel_; }
  // Per-rank shard lengths of the two flat buffers.
  int64_t trainable_shard_numel() const { return trainable_shard_; }
  int64_t frozen_shard_numel() const { return frozen_shard_; }
  // Elements of the gathered full buffer (both flats, padded).
  int64_t padded_numel() const { return (trainable_shard_ + frozen_shard_) * shard_size_; }
  bool unsharded() const { return unsharded_; }
  // Kept gathered for good (resident_if_alone on a shard group of one).
  bool resident() const { return resident_; }
  bool has_trainable() const { return trainable_shard_ > 0; }
  const UnitPlacement& placement() const { return placement_; }
  // Where master, moments and EMA live (the host with optimizer offload).
  at::Device state_device() const;

  // Fills the shards: `value(slot)` returns the slot's full value (any device/dtype; only this
  // shard's part is read, so a lazily mapped tensor reads just those bytes).
  void SetMaster(const std::function<at::Tensor(const Slot&)>& value);
  // After SetMaster: EMA = master, moments and gradients zero; the module's parameters become
  // views into the (released) full buffer.
  void Attach();
  // Refreshes the compute-dtype copy of the trainable shard from the master (after a load); a
  // no-op when the compute shard is the master itself (fp32, no offload).
  void SyncComputeShard();
  // The compute-dtype copy of the trainable shard (the master itself for fp32 without offload).
  const at::Tensor& compute_shard() const { return compute_; }

  // Gathering: StartGather allocates the full buffer and launches the all-gathers of the two
  // compute-dtype shards; the unit is unsharded once the returned collectives complete.
  PendingGather StartGather(dist::Communicator& shard_group);
  void MarkUnsharded() { unsharded_ = true; }
  void FreeFull();

  // Reduces this unit's trainable parameter gradients: flattened, summed within the shard group
  // (and across replicas), averaged over `world_size` ranks and added to the gradient shard
  // (or written over it, the first time after ClearGradient). The parameters' .grad are
  // cleared. Start issues the reduce-scatter without waiting; Finish waits and accumulates.
  class PendingReduce {
   public:
    PendingReduce() = default;
    bool active() const { return unit_ != nullptr; }
    void Finish(dist::Communicator* replicas, int64_t world_size);

   private:
    friend class FlatUnit;
    FlatUnit* unit_ = nullptr;
    at::Tensor flat_, out_;  // alive while the collective reads and writes them
    dist::PendingCollective work_;
  };
  PendingReduce StartReduceGradients(dist::Communicator& shard_group, bool has_replicas);
  void ReduceGradients(dist::Communicator& shard_group, dist::Communicator* replicas,
                       int64_t world_size) {
    StartReduceGradients(shard_group, replicas != nullptr).Finish(replicas, world_size);
  }
  // The next reduction overwrites the gradient shard instead of adding to it (a new step): no
  // pass over memory to zero it.
  void ClearGradient() { grad_stale_ = true; }
  // The gradient shard, zeroed first if no reduction wrote it since ClearGradient.
  at::Tensor& CurrentGradient();

  // The full flat buffer of the trainable parameters ([trainable_numel], float32, on the
  // device) from every rank's `master` or `ema`, and that of the frozen ones (compute dtype).
  at::Tensor GatherTrainable(dist::Communicator& shard_group, bool ema);
  at::Tensor GatherFrozen(dist::Communicator& shard_group);
  // Sets this rank's part of a flat buffer (trainable: [trainable_numel] into `target`, one of
  // the state tensors; frozen: [frozen_numel] into the frozen shard), for resharding.
  void SetTrainableFromFlat(at::Tensor& target, const at::Tensor& flat);
  void SetFrozenFromFlat(const at::Tensor& flat);

  // Trainable shard state, float32 [trainable_shard_numel]: master, moments and EMA on
  // state_device(), the gradient on the device.
  at::Tensor master, grad, exp_avg, exp_avg_sq, ema;
  // Frozen shard in the compute dtype on the device, [frozen_shard_numel].
  at::Tensor frozen;

 private:
  void AllocateFull();
  // Moves the trainable parameters' .grad into `dest` (laid out like the trainable shard of a
  // group of one, or the whole flat trainable region) and resets them: added to what `dest`
  // holds when `accumulate`, else written over it, absent gradients and the padding zeroed.
  void TakeGradients(at::Tensor& dest, bool accumulate);

  std::string name_;
  const torch::nn::Module* module_;
  std::vector<Slot> slots_;
  int shard_rank_, shard_size_;
  UnitPlacement placement_;
  int64_t trainable_numel_ = 0, frozen_numel_ = 0;
  int64_t trainable_shard_ = 0, frozen_shard_ = 0;
  at::Tensor compute_;                       // [trainable_shard] in the compute dtype
  at::Tensor full_;                          // [padded]; storage only while unsharded
  at::Tensor full_trainable_, full_frozen_;  // its two regions
  bool unsharded_ = false;
  bool grad_stale_ = false;
  bool resident_ = false;
};

}  // namespace bagel::fsdp
