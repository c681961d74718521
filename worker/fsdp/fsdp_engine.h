// The fully sharded data-parallel engine (ZeRO-3 semantics, as FSDP2), applied to BAGEL from
// outside the model through its layer hooks.
//
// Every unit (unit_plan.h, flat_unit.h) keeps float32 master values, gradients, AdamW moments
// and EMA for this rank's shard of its trainable parameters only, and its frozen parameters once,
// in the compute dtype. A layer's parameters are all-gathered (in the compute dtype) just
// before it runs, the next layer's gather already in flight, and released after; in backward
// each layer is gathered again before its gradients are computed and its gradients are then
// reduce-scattered into the gradient shards. The root unit stays gathered from the start of a
// micro-step's forward to the end of its backward. Hybrid sharding shards within groups of G
// ranks and all-reduces gradient shards across the groups.
//
// Collectives are issued in one canonical order on every rank -- units skipped on this rank
// (e.g. no ViT tokens in its micro-batch) are still gathered and reduced -- so ranks never
// disagree about the sequence of collectives. One rank works the same way (local collectives).
#pragma once

#include <torch/csrc/autograd/custom_function.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/io/safetensors.h"
#include "model/nn/layer_hooks.h"
#include "worker/dist/communicator.h"
#include "worker/fsdp/flat_unit.h"
#include "worker/fsdp/fused_adamw.h"
#include "worker/fsdp/host_sync_audit.h"

namespace bagel::fsdp {

struct FsdpOptions {
  at::Device device = at::kCPU;
  at::ScalarType compute_dtype = at::kFloat;  // parameters and gradients in communication
  // Ranks per shard group; 0 = the whole world (full sharding). Must divide the world size.
  int shard_group_size = 0;
  bool reshard_after_forward = true;
  // Recompute every layer in backward instead of keeping its activations.
  bool activation_checkpointing = false;
  // Gather the next layer while the current one computes (off: every gather waits; used to
  // measure how much gather time the overlap hides).
  bool prefetch = true;
  // Master weights, AdamW moments and EMA in host memory (pinned beside a GPU) with the
  // optimizer step running there; the device keeps compute-dtype shards and gradients.
  bool optimizer_offload = false;
  // Frozen shards go into ShardState and come back from it. Off when the frozen values are
  // re-read from a fixed base at every start (LoRA: a checkpoint holds only the adapters).
  bool frozen_in_checkpoint = true;
  // A shard group of one keeps its units gathered in persistent buffers (UnitPlacement::
  // resident_if_alone): no gathers or copies per layer. Tests of the gather path turn it off.
  bool resident_if_alone = true;
  // Where the units' gathered buffers come from (empty: AllocateOnDevice on `device`; tests
  // inject a recording allocator).
  FullBufferAllocator full_buffer_allocator;
};

class FsdpEngine : public nn::LayerHooks {
 public:
  // Plans the units of `model` and installs the layer hooks. `model`'s parameters may live on
  // the meta device (nothing is allocated per rank beyond the shards); call one Init* next.
  FsdpEngine(BagelForUnifiedMultimodal& model, std::shared_ptr<dist::Communicator> world,
             FsdpOptions options);
  ~FsdpEngine() override;

  // The master shards from the model's current (real, full) parameter values.
  void InitFromModel();
  // The master shards from `value(slot)`, the full value of each parameter (checkpoint key in
  // slot.name). Only this rank's part of each value is read, so a tensor viewing a mapped
  // checkpoint file costs just those bytes: never a full copy of the model per rank.
  void InitFromValues(const std::function<at::Tensor(const Slot&)>& value);

  // The protocol of one micro-step: BeginForward(), the model's Forward, EndForward(), then
  // either loss.backward() (the engine finishes itself at the end of the backward pass) or,
  // when this rank's loss has no graph, BackwardWithoutGraph().
  void BeginForward();
  void EndForward(bool backward_follows);
  void BackwardWithoutGraph();

  // nn::LayerHooks: gather before the layer, release after, gather again for its backward.
  at::Tensor RunLayer(const torch::nn::Module& layer, const at::Tensor& input,
                      const nn::LayerHooks::Body& body) override;

  // Optimizer side. ZeroGrad before a step's micro-steps (the first gradient reduction then
  // overwrites the shards: no zeroing pass). OptimizerStep after them: the global L2 norm of the
  // gradient shards, the gradients scaled by min(1, max_norm / (norm + 1e-6)) (max_norm <= 0:
  // none), torch.optim.AdamW's update (`step` 1-based), the EMA (decay 0: none) and the
  // compute-dtype copy, in one pass per shard (fused_adamw.h). Returns the norm before clipping
  // as a float32 scalar on the device: read it only when it is logged (a host sync on a GPU).
  void ZeroGrad();
  at::Tensor OptimizerStep(const AdamWHyper& hyper, double lr, int64_t step, double max_norm,
                           double ema_decay);
  // The global gradient norm alone (float32 device scalar).
  at::Tensor GradNorm();

  // Full tensors (checkpoint key names, float32, CPU) gathered from every shard: the master
  // values or the EMA. Every rank of the world calls it; ranks with keep = false take part in
  // the gathers but get an empty map (a full copy only where it is used).
  std::map<std::string, at::Tensor> GatherFull(bool ema, bool keep = true);
  // The same for one unit, left where it was gathered (the training device; trainable
  // parameters in float32, frozen ones in the compute dtype): what a streamed export holds at
  // once. Collective like GatherFull.
  std::map<std::string, at::Tensor> GatherUnit(size_t unit, bool ema, bool keep = true);

  // This rank's shard state ("<unit>.<master|ema|exp_avg|exp_avg_sq>") and the geometry needed
  // to reshard it, and the inverse.
  // `on_host`: CPU tensors (copies of device state; on a CPU rank the live state itself);
  // otherwise the state where it lives, for a caller that copies it (checkpoint snapshots).
  std::map<std::string, at::Tensor> ShardState(bool on_host = true) const;
  // Loads shard state saved by `saved_world` ranks (one map per saved rank, any shard-group
  // size): each unit's flat vectors are reassembled and re-split for this geometry.
  void LoadShardState(const std::vector<std::map<std::string, at::Tensor>>& saved_ranks);
  // True when `saved` (one rank's ShardState) has this rank's exact geometry, so it can be
  // loaded alone with LoadOwnShard (no other rank's file read).
  bool SameGeometry(const std::map<std::string, at::Tensor>& saved) const;
  void LoadOwnShard(const std::map<std::string, at::Tensor>& saved);

  const std::vector<std::unique_ptr<FlatUnit>>& units() const { return units_; }
  dist::Communicator& world() { return *world_; }
  int64_t world_size() const { return world_->size(); }
  // Seconds spent waiting for all-gathers (not hidden behind compute), and in total issuing them.
  double gather_wait_seconds() const { return gather_wait_s_; }
  // Counts host synchronisations from each BeginForward to the start of OptimizerStep (tests
  // assert there are none; nullptr: no audit).
  void set_host_sync_audit(HostSyncAudit* audit) { audit_ = audit; }
  // Turns the prefetching of the next layer's gather on or off (benchmarks compare the two).
  void set_prefetch(bool prefetch) { options_.prefetch = prefetch; }
  double reduce_seconds() const { return reduce_s_; }

 private:
  void PreForward(const torch::nn::Module& layer);
  at::Tensor PostForward(const torch::nn::Module& layer, at::Tensor output);
  void EnsureGathered(size_t u);
  void Prefetch(size_t u);
  void VisitForward(size_t u, bool needed);
  void VisitBackward(size_t u);
  void PreBackward(size_t u);
  void FinishBackward();
  void FinishUnit(size_t u);
  void FinishPendingReduce();
  std::vector<size_t> AllUnits() const;

  BagelForUnifiedMultimodal& model_;
  std::shared_ptr<dist::Communicator> world_, shard_group_, replicas_;
  FsdpOptions options_;
  std::vector<std::unique_ptr<FlatUnit>> units_;  // layer units in forward order, root last
  size_t root_;
  std::unordered_map<const torch::nn::Module*, size_t> unit_of_;
  // Canonical-order state of the current micro-step.
  size_t fwd_cursor_ = 0;
  int64_t bwd_cursor_ = -1;
  int64_t active_bwd_ = -1;
  bool backward_started_ = false;
  size_t prefetched_unit_ = SIZE_MAX;
  PendingGather prefetch_;
  double gather_wait_s_ = 0, reduce_s_ = 0;
  // The one reduce-scatter in flight: a unit's finishes when the next unit's is issued (or at
  // the end of backward), so reduction overlaps the next layer's backward.
  FlatUnit::PendingReduce pending_reduce_;
  HostSyncAudit* audit_ = nullptr;
  // Host copies of the gradient shards an offloaded optimizer step reads (pinned beside a GPU).
  std::vector<at::Tensor> host_grads_;
};

}  // namespace bagel::fsdp
