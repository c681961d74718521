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
    units_.push_back(std::make_unique<FlatUnit>(
        std::move(plan), shard_group_->rank(), shard_group_->size(), options_.device,
        options_.compute_dtype,
        options_.full_buffer_allocator ? options_.full_buffer_allocator : AllocateOnDevice));
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
  units_[u]->ReduceGradients(*shard_group_, replicas_.get(), world_->size());
  units_[u]->FreeFull();
  if (static_cast<int64_t>(u) == active_bwd_) active_bwd_ = -1;
}

void FsdpEngine::FinishBackward() {
  while (bwd_cursor_ >= 0) {
    VisitBackward(static_cast<size_t>(bwd_cursor_));
    --bwd_cursor_;
  }
  if (active_bwd_ >= 0) FinishUnit(static_cast<size_t>(active_bwd_));
  FinishUnit(root_);
}

void FsdpEngine::BackwardWithoutGraph() { FinishBackward(); }

// --- optimizer side --------------------------------------------------------------------------

void FsdpEngine::ZeroGrad() {
  for (auto& unit : units_) unit->grad.zero_();
}

double FsdpEngine::ClipGradNorm(double max_norm) {
  at::NoGradGuard no_grad;
  at::Tensor sumsq = at::zeros({1}, at::TensorOptions().dtype(at::kDouble).device(options_.device));
  for (auto& unit : units_) {
    for (const auto& [b, e] : unit->trainable_ranges()) {
      sumsq += unit->grad.narrow(0, b, e - b).to(at::kDouble).pow(2).sum();
    }
  }
  shard_group_->AllReduceSum(sumsq);
  const double norm = std::sqrt(sumsq.item<double>());
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      for (auto& unit : units_) unit->grad.mul_(coef);
    }
  }
  return norm;
}

void FsdpEngine::AdamWStep(const AdamWHyper& h, double lr, int64_t step) {
  at::NoGradGuard no_grad;
  // torch.optim.AdamW (single-tensor path), operation for operation.
  const double bias_correction1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  for (auto& unit : units_) {
    for (const auto& [b, e] : unit->trainable_ranges()) {
      at::Tensor p = unit->master.narrow(0, b, e - b);
      at::Tensor g = unit->grad.narrow(0, b, e - b);
      at::Tensor m = unit->exp_avg.narrow(0, b, e - b);
      at::Tensor v = unit->exp_avg_sq.narrow(0, b, e - b);
      p.mul_(1.0 - lr * h.weight_decay);
      m.lerp_(g, 1.0 - h.beta1);
      v.mul_(h.beta2).addcmul_(g, g, 1.0 - h.beta2);
      at::Tensor denom = (v.sqrt() / bias_correction2_sqrt).add_(h.eps);
      p.addcdiv_(m, denom, -step_size);
    }
  }
}

void FsdpEngine::UpdateEma(double decay) {
  at::NoGradGuard no_grad;
  for (auto& unit : units_) {
    for (const auto& [b, e] : unit->trainable_ranges()) {
      unit->ema.narrow(0, b, e - b).mul_(decay).add_(unit->master.narrow(0, b, e - b), 1.0 - decay);
    }
  }
}

// --- state -----------------------------------------------------------------------------------

std::map<std::string, at::Tensor> FsdpEngine::GatherFull(bool ema, bool keep) {
  at::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> out;
  for (auto& unit : units_) {
    at::Tensor src = ema ? unit->ema : unit->master;
    at::Tensor full = at::empty({unit->padded_numel()}, src.options());
    shard_group_->AllGather(full, src);
    if (!keep) continue;
    for (const Slot& s : unit->slots()) {
      out[s.name] = full.narrow(0, s.offset, s.numel).view(s.shape).to(at::kCPU).clone();
    }
  }
  return out;
}

std::map<std::string, at::Tensor> FsdpEngine::ShardState() const {
  std::map<std::string, at::Tensor> out;
  out["meta.shard_group_size"] = Scalar(shard_group_->size());
  out["meta.shard_rank"] = Scalar(shard_group_->rank());
  out["meta.replica_index"] = Scalar(world_->rank() / shard_group_->size());
  for (const auto& unit : units_) {
    const std::string p = unit->name() + ".";
    out[p + "numel"] = Scalar(unit->numel());
    out[p + "master"] = unit->master.to(at::kCPU);
    out[p + "ema"] = unit->ema.to(at::kCPU);
    out[p + "exp_avg"] = unit->exp_avg.to(at::kCPU);
    out[p + "exp_avg_sq"] = unit->exp_avg_sq.to(at::kCPU);
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
    const std::string p = unit->name() + ".";
    for (auto [field, target] :
         {std::pair{"master", &unit->master}, std::pair{"ema", &unit->ema},
          std::pair{"exp_avg", &unit->exp_avg}, std::pair{"exp_avg_sq", &unit->exp_avg_sq}}) {
      auto it = saved.find(p + field);
      TORCH_CHECK(it != saved.end(), "the checkpoint has no '", p, field, "'");
      TORCH_CHECK(it->second.numel() == target->numel(), "'", p, field, "' has ",
                  it->second.numel(), " elements, expected ", target->numel());
      target->copy_(it->second.reshape({-1}));
    }
  }
}

void FsdpEngine::LoadShardState(const std::vector<std::map<std::string, at::Tensor>>& saved) {
  TORCH_CHECK(!saved.empty(), "no saved shard state");
  // The saved shards of replica 0, ordered by shard rank, hold every unit once.
  const int64_t saved_group = saved[0].at("meta.shard_group_size").item<int64_t>();
  std::vector<const std::map<std::string, at::Tensor>*> group(saved_group, nullptr);
  for (const auto& s : saved) {
    if (s.at("meta.replica_index").item<int64_t>() != 0) continue;
    const int64_t r = s.at("meta.shard_rank").item<int64_t>();
    TORCH_CHECK(r >= 0 && r < saved_group, "saved shard rank ", r, " out of range");
    group[r] = &s;
  }
  for (int64_t r = 0; r < saved_group; ++r) {
    TORCH_CHECK(group[r] != nullptr, "the checkpoint lacks the shard of rank ", r);
  }
  at::NoGradGuard no_grad;
  for (auto& unit : units_) {
    const std::string p = unit->name() + ".";
    TORCH_CHECK(group[0]->count(p + "numel"), "the checkpoint has no unit '", unit->name(), "'");
    TORCH_CHECK(group[0]->at(p + "numel").item<int64_t>() == unit->numel(), "unit ", unit->name(),
                " has ", unit->numel(), " parameters but the checkpoint holds ",
                group[0]->at(p + "numel").item<int64_t>());
    for (const char* field : {"master", "ema", "exp_avg", "exp_avg_sq"}) {
      std::vector<at::Tensor> parts;
      for (const auto* s : group) parts.push_back(s->at(p + field));
      at::Tensor flat = at::cat(parts).narrow(0, 0, unit->numel());
      at::Tensor mine = at::zeros({unit->shard_numel()}, at::kFloat);
      const int64_t lo = unit->shard_begin();
      const int64_t n =
          std::max<int64_t>(0, std::min(unit->numel(), lo + unit->shard_numel()) - lo);
      if (n > 0) mine.narrow(0, 0, n).copy_(flat.narrow(0, lo, n));
      at::Tensor& target = field == std::string("master")    ? unit->master
                           : field == std::string("ema")     ? unit->ema
                           : field == std::string("exp_avg") ? unit->exp_avg
                                                             : unit->exp_avg_sq;
      target.copy_(mine);
    }
  }
}

}  // namespace bagel::fsdp
