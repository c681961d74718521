#include "worker/fsdp/fsdp_engine.h"

#include <c10/util/Exception.h>
#include <torch/csrc/autograd/engine.h>

#include <chrono>
#include <cmath>

#include "worker/fsdp/activation_checkpoint.h"
#include "worker/fsdp/unit_plan.h"

namespace bagel::fsdp {
namespace {

class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

at::Tensor Scalar(int64_t v) { return at::scalar_tensor(v, at::kLong); }

}  // namespace

FsdpEngine::FsdpEngine(BagelForUnifiedMultimodal& model, std::shared_ptr<dist::Communicator> world,
                       FsdpOptions options)
    : model_(model), world_(std::move(world)), options_(options) {
  const int w = world_->size();
  const int g = options_.shard_group_size > 0 ? options_.shard_group_size : w;
  TORCH_CHECK(w % g == 0, "shard group size ", g, " does not divide the world size ", w);
  const int rank = world_->rank();
  if (g == w) {
    shard_group_ = world_;
  } else {
    std::vector<int> members;
    for (int r = (rank / g) * g; r < (rank / g + 1) * g; ++r) members.push_back(r);
    shard_group_ = world_->Subgroup(members, "shard." + std::to_string(rank / g));
  }
  if (w / g > 1) {
    std::vector<int> members;
    for (int r = rank % g; r < w; r += g) members.push_back(r);
    replicas_ = world_->Subgroup(members, "replica." + std::to_string(rank % g));
  }
  for (UnitPlan& plan : PlanBagelUnits(model_)) {
    const torch::nn::Module* module = plan.module;
    UnitPlacement placement;
    placement.device = options_.device;
    placement.compute_dtype = options_.compute_dtype;
    placement.optimizer_offload = options_.optimizer_offload;
    placement.resident_if_alone = options_.resident_if_alone;
    if (options_.full_buffer_allocator) placement.allocate = options_.full_buffer_allocator;
    units_.push_back(std::make_unique<FlatUnit>(std::move(plan), shard_group_->rank(),
                                                shard_group_->size(), std::move(placement)));
    if (module != nullptr) unit_of_[module] = units_.size() - 1;
  }
  root_ = units_.size() - 1;
  model_.model->language_model->model->SetLayerHooks(this);
  if (model_.model->vit_model) model_.model->vit_model->vision_model->encoder->SetLayerHooks(this);
}

FsdpEngine::~FsdpEngine() {
  model_.model->language_model->model->SetLayerHooks(nullptr);
  if (model_.model->vit_model)
    model_.model->vit_model->vision_model->encoder->SetLayerHooks(nullptr);
}

void FsdpEngine::InitFromModel() {
  for (auto& unit : units_) {
    unit->SetMaster([](const Slot& s) { return s.param.detach(); });
    unit->Attach();
  }
}

void FsdpEngine::InitFromValues(const std::function<at::Tensor(const Slot&)>& value) {
  for (auto& unit : units_) {
    unit->SetMaster(value);
    unit->Attach();
  }
}

// --- gathering -------------------------------------------------------------------------------

void FsdpEngine::EnsureGathered(size_t u) {
  FlatUnit& unit = *units_[u];
  if (unit.unsharded()) return;
  Stopwatch watch(gather_wait_s_);
  if (prefetched_unit_ == u) {
    prefetch_.Wait();
    prefetched_unit_ = SIZE_MAX;
  } else {
    unit.StartGather(*shard_group_).Wait();
  }
  unit.MarkUnsharded();
}

void FsdpEngine::Prefetch(size_t u) {
  if (!options_.prefetch || units_[u]->unsharded() || prefetched_unit_ == u) return;
  if (prefetched_unit_ != SIZE_MAX) EnsureGathered(prefetched_unit_);
  prefetch_ = units_[u]->StartGather(*shard_group_);
  prefetched_unit_ = u;
}

// --- forward ---------------------------------------------------------------------------------

void FsdpEngine::BeginForward() {
  if (audit_ != nullptr) audit_->Begin();
  fwd_cursor_ = 0;
  bwd_cursor_ = -1;
  active_bwd_ = -1;
  backward_started_ = false;
  EnsureGathered(root_);
  if (root_ > 0) Prefetch(0);
}

void FsdpEngine::VisitForward(size_t u, bool needed) {
  EnsureGathered(u);
  if (u + 1 < root_) Prefetch(u + 1);
  if (!needed) units_[u]->FreeFull();  // skipped on this rank: gathered only to stay in step
}

void FsdpEngine::PreForward(const torch::nn::Module& layer) {
  auto it = unit_of_.find(&layer);
  TORCH_INTERNAL_ASSERT(it != unit_of_.end(), "layer without an FSDP unit");
  const size_t j = it->second;
  TORCH_INTERNAL_ASSERT(fwd_cursor_ <= j, "layers ran out of order (unit ", j, ")");
  while (fwd_cursor_ <= j) {
    VisitForward(fwd_cursor_, fwd_cursor_ == j);
    ++fwd_cursor_;
  }
}

at::Tensor FsdpEngine::RunLayer(const torch::nn::Module& layer, const at::Tensor& input,
                                const nn::LayerHooks::Body& body) {
  PreForward(layer);
  at::Tensor out =
      options_.activation_checkpointing ? CheckpointedLayerCall(body, input) : body(input);
  return PostForward(layer, out);
}

at::Tensor FsdpEngine::PostForward(const torch::nn::Module& layer, at::Tensor output) {
  const size_t j = unit_of_.at(&layer);
  if (options_.reshard_after_forward) units_[j]->FreeFull();
  if (at::GradMode::is_enabled() && output.requires_grad()) {
    output.register_hook([this, j](const at::Tensor&) { PreBackward(j); });
  }
  return output;
}

void FsdpEngine::EndForward(bool backward_follows) {
  while (fwd_cursor_ < root_) {
    VisitForward(fwd_cursor_, false);
    ++fwd_cursor_;
  }
  bwd_cursor_ = static_cast<int64_t>(root_) - 1;
  if (!backward_follows) units_[root_]->FreeFull();
}

// --- backward --------------------------------------------------------------------------------

void FsdpEngine::PreBackward(size_t j) {
  if (!backward_started_) {
    backward_started_ = true;
    torch::autograd::Engine::get_default_engine().queue_callback([this] { FinishBackward(); });
  }
  while (bwd_cursor_ >= static_cast<int64_t>(j)) {
    VisitBackward(static_cast<size_t>(bwd_cursor_));
    --bwd_cursor_;
  }
}

void FsdpEngine::VisitBackward(size_t u) {
  if (active_bwd_ >= 0) FinishUnit(static_cast<size_t>(active_bwd_));
  EnsureGathered(u);
  if (u > 0) Prefetch(u - 1);
  active_bwd_ = static_cast<int64_t>(u);
}

void FsdpEngine::FinishUnit(size_t u) {
  Stopwatch watch(reduce_s_);
  // The previous unit's reduce-scatter has run behind this unit's backward; it finishes before
  // the next is issued: one in flight at a time (beside the prefetching all-gather).
  FinishPendingReduce();
  pending_reduce_ = units_[u]->StartReduceGradients(*shard_group_, replicas_ != nullptr);
  units_[u]->FreeFull();  // its gradients are in the flat buffer now
  if (static_cast<int64_t>(u) == active_bwd_) active_bwd_ = -1;
}

void FsdpEngine::FinishPendingReduce() { pending_reduce_.Finish(replicas_.get(), world_->size()); }

void FsdpEngine::FinishBackward() {
  while (bwd_cursor_ >= 0) {
    VisitBackward(static_cast<size_t>(bwd_cursor_));
    --bwd_cursor_;
  }
  if (active_bwd_ >= 0) FinishUnit(static_cast<size_t>(active_bwd_));
  FinishUnit(root_);
  Stopwatch watch(reduce_s_);
  FinishPendingReduce();  // every reduction is done before the optimizer reads the gradients
}

void FsdpEngine::BackwardWithoutGraph() { FinishBackward(); }

// --- optimizer side --------------------------------------------------------------------------

void FsdpEngine::ZeroGrad() {
  for (auto& unit : units_) unit->ClearGradient();
}

at::Tensor FsdpEngine::GradNorm() {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (auto& unit : units_) {
    if (unit->has_trainable()) grads.push_back(unit->CurrentGradient());
  }
  at::Tensor sumsq =
      grads.empty() ? at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(options_.device))
                    : SumOfSquares(grads).to(options_.device);
  shard_group_->AllReduceSum(sumsq, /*host_wait=*/false);
  return sumsq.sqrt();
}

at::Tensor FsdpEngine::OptimizerStep(const AdamWHyper& hyper, double lr, int64_t step,
                                     double max_norm, double ema_decay) {
  if (audit_ != nullptr) audit_->End();
  at::NoGradGuard no_grad;
  const at::Tensor norm = GradNorm();
  at::Tensor clip = ClipCoefficient(norm, max_norm);
  std::vector<OptimizerShard> shards;
  if (host_grads_.size() != units_.size()) host_grads_.resize(units_.size());
  for (size_t u = 0; u < units_.size(); ++u) {
    FlatUnit& unit = *units_[u];
    if (!unit.has_trainable()) continue;
    OptimizerShard s{unit.master,
                     unit.CurrentGradient(),
                     unit.exp_avg,
                     unit.exp_avg_sq,
                     ema_decay > 0 ? unit.ema : at::Tensor(),
                     unit.compute_shard()};
    if (s.grad.device() != s.param.device()) {
      // Offload: the step runs where the state lives; the gradient comes to the host.
      at::Tensor& host = host_grads_[u];
      if (!host.defined()) {
        host = at::empty_like(unit.master, unit.master.options().pinned_memory(s.grad.is_cuda()));
      }
      host.copy_(s.grad);
      s.grad = host;
    }
    shards.push_back(std::move(s));
  }
  if (!shards.empty() && shards.front().param.device() != clip.device()) clip = clip.to(at::kCPU);
  AdamWEmaStep(shards, hyper, {lr, step, ema_decay}, clip);
  return norm;
}

// --- state -----------------------------------------------------------------------------------

std::map<std::string, at::Tensor> FsdpEngine::GatherUnit(size_t u, bool ema, bool keep) {
  at::NoGradGuard no_grad;
  FlatUnit& unit = *units_.at(u);
  // A frozen parameter's EMA is its value.
  const at::Tensor trainable = unit.GatherTrainable(*shard_group_, ema);
  const at::Tensor frozen = unit.GatherFrozen(*shard_group_);
  std::map<std::string, at::Tensor> out;
  if (!keep) return out;
  for (const Slot& s : unit.slots()) {
    const at::Tensor& flat = s.trainable ? trainable : frozen;
    out[s.name] = flat.narrow(0, s.offset, s.numel).view(s.shape);
  }
  return out;
}

std::map<std::string, at::Tensor> FsdpEngine::GatherFull(bool ema, bool keep) {
  std::map<std::string, at::Tensor> out;
  for (size_t u = 0; u < units_.size(); ++u) {
    for (auto& [name, t] : GatherUnit(u, ema, keep))
      out[name] = t.to(at::kCPU, at::kFloat, false, /*copy=*/true);
  }
  return out;
}

namespace {

constexpr const char* kTrainableFields[] = {"master", "ema", "exp_avg", "exp_avg_sq"};

at::Tensor& TrainableField(FlatUnit& unit, const std::string& field) {
  if (field == "master") return unit.master;
  if (field == "ema") return unit.ema;
  if (field == "exp_avg") return unit.exp_avg;
  TORCH_INTERNAL_ASSERT(field == "exp_avg_sq", field);
  return unit.exp_avg_sq;
}

const at::Tensor& SavedField(const std::map<std::string, at::Tensor>& saved,
                             const std::string& key) {
  auto it = saved.find(key);
  TORCH_CHECK(it != saved.end(), "the checkpoint has no '", key, "'");
  return it->second;
}

int64_t SavedInt(const std::map<std::string, at::Tensor>& saved, const std::string& key) {
  return SavedField(saved, key).item<int64_t>();
}

// The saved unit must hold the same parameters split the same way between trainable and frozen
// (a job resumed with other freeze_* or LoRA settings is refused, not silently mixed).
void CheckSavedUnit(const FlatUnit& unit, const std::map<std::string, at::Tensor>& saved) {
  const std::string p = unit.name() + ".";
  TORCH_CHECK(saved.count(p + "numel"), "the checkpoint has no unit '", unit.name(), "'");
  TORCH_CHECK(SavedInt(saved, p + "numel") == unit.numel(), "unit ", unit.name(), " has ",
              unit.numel(), " parameters but the checkpoint holds ", SavedInt(saved, p + "numel"));
  TORCH_CHECK(saved.count(p + "trainable_numel"), "unit ", unit.name(),
              ": the checkpoint does not say which parameters were trainable (written by an "
              "older version)");
  TORCH_CHECK(SavedInt(saved, p + "trainable_numel") == unit.trainable_numel(), "unit ",
              unit.name(), " trains ", unit.trainable_numel(),
              " parameters but the checkpoint was written training ",
              SavedInt(saved, p + "trainable_numel"),
              " (were model.freeze_* changed between the attempts?)");
}

}  // namespace

std::map<std::string, at::Tensor> FsdpEngine::ShardState(bool on_host) const {
  const auto place = [on_host](const at::Tensor& t) { return on_host ? t.to(at::kCPU) : t; };
  std::map<std::string, at::Tensor> out;
  out["meta.shard_group_size"] = Scalar(shard_group_->size());
  out["meta.shard_rank"] = Scalar(shard_group_->rank());
  out["meta.replica_index"] = Scalar(world_->rank() / shard_group_->size());
  for (const auto& unit : units_) {
    const std::string p = unit->name() + ".";
    out[p + "numel"] = Scalar(unit->numel());
    out[p + "trainable_numel"] = Scalar(unit->trainable_numel());
    for (const char* field : kTrainableFields) {
      out[p + field] = place(TrainableField(*unit, field));
    }
    if (unit->frozen_numel() > 0 && options_.frozen_in_checkpoint)
      out[p + "frozen"] = place(unit->frozen);
  }
  return out;
}

bool FsdpEngine::SameGeometry(const std::map<std::string, at::Tensor>& saved) const {
  auto get = [&](const char* key) {
    auto it = saved.find(key);
    return it == saved.end() ? int64_t{-1} : it->second.item<int64_t>();
  };
  return get("meta.shard_group_size") == shard_group_->size() &&
         get("meta.shard_rank") == shard_group_->rank() &&
         get("meta.replica_index") == world_->rank() / shard_group_->size();
}

void FsdpEngine::LoadOwnShard(const std::map<std::string, at::Tensor>& saved) {
  TORCH_CHECK(SameGeometry(saved), "the saved shard has another geometry; use LoadShardState");
  at::NoGradGuard no_grad;
  for (auto& unit : units_) {
    CheckSavedUnit(*unit, saved);
    const std::string p = unit->name() + ".";
    for (const char* field : kTrainableFields) {
      at::Tensor& target = TrainableField(*unit, field);
      const at::Tensor& value = SavedField(saved, p + field);
      TORCH_CHECK(value.numel() == target.numel(), "'", p, field, "' has ", value.numel(),
                  " elements, expected ", target.numel());
      target.copy_(value.reshape({-1}));
    }
    if (unit->frozen_numel() > 0 && options_.frozen_in_checkpoint) {
      const at::Tensor& value = SavedField(saved, p + "frozen");
      TORCH_CHECK(value.numel() == unit->frozen.numel(), "'", p, "frozen' has ", value.numel(),
                  " elements, expected ", unit->frozen.numel());
      unit->frozen.copy_(value.reshape({-1}));
    }
    unit->SyncComputeShard();
  }
}

void FsdpEngine::LoadShardState(const std::vector<std::map<std::string, at::Tensor>>& saved) {
  TORCH_CHECK(!saved.empty(), "no saved shard state");
  // The saved shards of replica 0, ordered by shard rank, hold every unit once.
  const int64_t saved_group = SavedInt(saved[0], "meta.shard_group_size");
  std::vector<const std::map<std::string, at::Tensor>*> group(saved_group, nullptr);
  for (const auto& s : saved) {
    if (SavedInt(s, "meta.replica_index") != 0) continue;
    const int64_t r = SavedInt(s, "meta.shard_rank");
    TORCH_CHECK(r >= 0 && r < saved_group, "saved shard rank ", r, " out of range");
    group[r] = &s;
  }
  for (int64_t r = 0; r < saved_group; ++r) {
    TORCH_CHECK(group[r] != nullptr, "the checkpoint lacks the shard of rank ", r);
  }
  at::NoGradGuard no_grad;
  auto flat_of = [&](const std::string& key, int64_t numel) {
    std::vector<at::Tensor> parts;
    for (const auto* s : group) parts.push_back(SavedField(*s, key).reshape({-1}));
    return at::cat(parts).narrow(0, 0, numel);
  };
  for (auto& unit : units_) {
    CheckSavedUnit(*unit, *group[0]);
    const std::string p = unit->name() + ".";
    for (const char* field : kTrainableFields) {
      unit->SetTrainableFromFlat(TrainableField(*unit, field),
                                 flat_of(p + field, unit->trainable_numel()));
    }
    if (unit->frozen_numel() > 0 && options_.frozen_in_checkpoint) {
      unit->SetFrozenFromFlat(flat_of(p + "frozen", unit->frozen_numel()));
    }
    unit->SyncComputeShard();
  }
}

}  // namespace bagel::fsdp
