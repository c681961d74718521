// The fully sharded engine on its own, one CPU rank: what it keeps (master, EMA, state) and what
// its optimizer side computes. Sharded equivalence over 1, 2 and 4 ranks, hybrid sharding and
// frozen parameters are in tests/training/sharded_training_test.cc.
#include "worker/fsdp/fsdp_engine.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "model/config/bagel_config.h"
#include "model/config/presets.h"
#include "worker/data/sequence_packer.h"
#include "worker/data/synthetic_samples.h"

namespace bagel::fsdp {
namespace {

std::shared_ptr<BagelForUnifiedMultimodal> TinyStage1() {
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, 1);
  auto m = std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().dtype(at::kFloat));
  m->InitializeWeights(11);
  return m;
}

std::shared_ptr<dist::Communicator> OneRank() {
  return dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(30));
}

PackedBatch TinyBatch() {
  at::Generator gen = at::detail::createCPUGenerator(3);
  data::PackerConfig pc;
  pc.max_latent_size = 8;
  data::SequencePacker packer(pc, {252, 253, 254, 255});
  data::PackRandomness random{[] { return 0.5; },
                              [&] { return at::randn({1}, gen).item<double>(); }};
  packer.Add(data::TinySample("vlm", 250, gen), random);
  packer.Add(data::TinySample("text", 250, gen), random);
  return packer.Finish().batch;
}

std::map<std::string, at::Tensor> Clone(const torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : m.named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

TEST(FsdpEngineTest, TheGatheredMasterAndEmaAreTheModelsWeights) {
  auto model = TinyStage1();
  const auto before = Clone(*model);
  FsdpEngine engine(*model, OneRank(), FsdpOptions{});
  engine.InitFromModel();
  for (bool ema : {false, true}) {
    const auto full = engine.GatherFull(ema);
    ASSERT_EQ(full.size(), before.size());
    size_t matched = 0;
    for (const auto& [native, value] : before) {
      for (const auto& [key, got] : full) {
        if (native.size() >= key.size() &&
            native.compare(native.size() - key.size(), key.size(), key) == 0 &&
            got.sizes() == value.sizes() && got.equal(value)) {
          ++matched;
          break;
        }
      }
    }
    EXPECT_EQ(matched, before.size()) << (ema ? "ema" : "master");
  }
}

// One micro-step's protocol: every unit is gathered (on the engine's device) and resharded
// again, and gradients land in the shards.
TEST(FsdpEngineTest, AForwardAndBackwardGathersEveryUnitAndFillsTheGradientShards) {
  auto model = TinyStage1();
  std::vector<at::Device> devices;
  FsdpOptions o;
  o.resident_if_alone = false;  // the gather path, on one rank
  o.full_buffer_allocator = [&](size_t nbytes, const at::Device& device) {
    devices.push_back(device);
    return AllocateOnDevice(nbytes, device);
  };
  FsdpEngine engine(*model, OneRank(), o);
  engine.InitFromModel();
  engine.ZeroGrad();
  const PackedBatch batch = TinyBatch();
  engine.BeginForward();
  ForwardOutputs out = model->Forward(batch);
  engine.EndForward(/*backward_follows=*/true);
  out.ce.mean().backward();
  // Forward and backward each gather every unit (the root once for both).
  EXPECT_GE(devices.size(), 2 * engine.units().size() - 1);
  for (const at::Device& d : devices) EXPECT_EQ(d, at::Device(at::kCPU));
  double grad_sum = 0;
  for (const auto& unit : engine.units()) {
    EXPECT_FALSE(unit->unsharded()) << unit->name() << " stayed gathered";
    grad_sum += unit->grad.abs().sum().item<double>();
  }
  EXPECT_GT(grad_sum, 0);
}

TEST(FsdpEngineTest, TheGradientNormIsGlobalAndClippingScalesEveryShard) {
  auto model = TinyStage1();
  FsdpEngine engine(*model, OneRank(), FsdpOptions{});
  engine.InitFromModel();
  int64_t n = 0;
  for (const auto& unit : engine.units()) {
    unit->grad.fill_(0.5);
    n += unit->grad.numel();
  }
  const double norm = engine.GradNorm().item<double>();
  EXPECT_NEAR(norm, 0.5 * std::sqrt(static_cast<double>(n)), 1e-6 * norm);
  // With lr 0 the step leaves the weights and moves the first moment by 0.1 * the clipped
  // gradient: 0.5 * max_norm / (norm + 1e-6).
  const double returned =
      engine.OptimizerStep(AdamWHyper{}, /*lr=*/0.0, 1, /*max_norm=*/1.0, 0.0).item<double>();
  EXPECT_NEAR(returned, norm, 1e-6 * norm);
  const double coef = 1.0 / (norm + 1e-6);
  for (const auto& unit : engine.units()) {
    if (!unit->has_trainable()) continue;
    EXPECT_NEAR(unit->exp_avg.max().item<double>(), 0.1 * 0.5 * coef, 1e-9);
    EXPECT_NEAR(unit->exp_avg.min().item<double>(), 0.1 * 0.5 * coef, 1e-9);
  }
  // Below the bound: untouched.
  for (const auto& unit : engine.units()) {
    unit->grad.fill_(1e-9);
    unit->exp_avg.zero_();
  }
  engine.OptimizerStep(AdamWHyper{}, 0.0, 1, 1.0, 0.0);
  EXPECT_FLOAT_EQ(engine.units()[0]->exp_avg[0].item<float>(), 0.1f * 1e-9f);
}

// torch.optim.AdamW, step 1 and 2, element for element on a unit's shard, with the EMA in the
// same pass; a cleared gradient is overwritten by the next reduction, never added to.
TEST(FsdpEngineTest, TheOptimizerStepIsAdamWAndTheEmaFollowsTheMaster) {
  auto model = TinyStage1();
  FsdpEngine engine(*model, OneRank(), FsdpOptions{});
  engine.InitFromModel();
  FlatUnit& u = *engine.units()[0];
  const AdamWHyper h{0.9, 0.95, 1e-8, 0.1};
  const double lr = 1e-2;
  at::Tensor p = u.master.clone(), m = at::zeros_like(p), v = at::zeros_like(p);
  at::Tensor ema = u.ema.clone();
  for (int64_t step = 1; step <= 2; ++step) {
    at::Tensor g = at::randn_like(p);
    for (const auto& unit : engine.units()) unit->grad.zero_();
    u.grad.copy_(g);
    engine.OptimizerStep(h, lr, step, /*max_norm=*/0.0, /*ema_decay=*/0.9);
    p.mul_(1 - lr * h.weight_decay);
    m = m * h.beta1 + g * (1 - h.beta1);
    v = v * h.beta2 + g * g * (1 - h.beta2);
    const double c1 = 1 - std::pow(h.beta1, step), c2 = 1 - std::pow(h.beta2, step);
    p = p - (lr / c1) * m / (v.sqrt() / std::sqrt(c2) + h.eps);
    ema = ema * 0.9 + p * 0.1;
    EXPECT_TRUE(at::allclose(u.master, p, 1e-5, 1e-6)) << "step " << step;
    EXPECT_TRUE(at::allclose(u.ema, ema, 1e-5, 1e-6)) << "step " << step;
  }
}

// The CPU kernel is the single-tensor torch.optim.AdamW (the same float32 operations in the same
// order; ATen's vector kernels differ in the last bit: a fused multiply-add in lerp, a division
// by a scalar taken as a multiplication by its reciprocal), clipping and EMA included.
TEST(FsdpEngineTest, TheFusedStepMatchesTorchAdamW) {
  at::manual_seed(3);
  const int64_t n = 100003;  // not a multiple of any vector width
  at::Tensor p = at::randn({n}), g = at::randn({n}) * 3;
  OptimizerShard s{p.clone(), g.clone(), at::zeros({n}), at::zeros({n}), p.clone(), at::Tensor()};
  at::Tensor ref = p.clone(), m = at::zeros({n}), v = at::zeros({n}), ema = p.clone();
  const AdamWHyper h{0.9, 0.95, 1e-15, 0.05};
  std::vector<OptimizerShard> shards = {s};
  for (int64_t step = 1; step <= 3; ++step) {
    const double lr = 1e-3 * step;
    const float clip = 0.75f;
    shards[0].grad.copy_(g);
    AdamWEmaStep(shards, h, {lr, step, 0.99}, at::full({1}, clip));
    // torch.optim.AdamW's _single_tensor_adamw, after clip_grad_norm_'s grad.mul_(coef).
    const at::Tensor gc = g * clip;
    ref.mul_(1 - lr * h.weight_decay);
    m.lerp_(gc, 1 - h.beta1);
    v.mul_(h.beta2).addcmul_(gc, gc, 1 - h.beta2);
    const double bc1 = 1 - std::pow(h.beta1, step), bc2 = 1 - std::pow(h.beta2, step);
    const at::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(h.eps);
    ref.addcdiv_(m, denom, -lr / bc1);
    ema.mul_(0.99).add_(ref, 1 - 0.99);
    const double rtol = 1e-6, atol = 1e-7;  // a few float32 ulps
    EXPECT_TRUE(at::allclose(shards[0].param, ref, rtol, atol)) << "step " << step;
    EXPECT_TRUE(at::allclose(shards[0].exp_avg, m, rtol, atol)) << "step " << step;
    EXPECT_TRUE(at::allclose(shards[0].exp_avg_sq, v, rtol, atol)) << "step " << step;
    EXPECT_TRUE(at::allclose(shards[0].ema, ema, rtol, atol)) << "step " << step;
  }
}

TEST(FsdpEngineTest, ShardStateLoadsBackIntoAFreshEngine) {
  auto model = TinyStage1();
  FsdpEngine engine(*model, OneRank(), FsdpOptions{});
  engine.InitFromModel();
  for (const auto& unit : engine.units()) {
    unit->exp_avg.normal_();
    unit->exp_avg_sq.uniform_();
    unit->ema.add_(1.0);
  }
  const auto state = engine.ShardState();
  auto other_model = TinyStage1();
  FsdpEngine other(*other_model, OneRank(), FsdpOptions{});
  other.InitFromModel();
  ASSERT_TRUE(other.SameGeometry(state));
  other.LoadOwnShard(state);
  for (size_t i = 0; i < engine.units().size(); ++i) {
    EXPECT_TRUE(other.units()[i]->exp_avg.equal(engine.units()[i]->exp_avg));
    EXPECT_TRUE(other.units()[i]->exp_avg_sq.equal(engine.units()[i]->exp_avg_sq));
    EXPECT_TRUE(other.units()[i]->ema.equal(engine.units()[i]->ema));
  }
  // The resharding path gives the same for one saved rank.
  auto third_model = TinyStage1();
  FsdpEngine third(*third_model, OneRank(), FsdpOptions{});
  third.InitFromModel();
  third.LoadShardState({state});
  EXPECT_TRUE(third.units()[1]->master.equal(engine.units()[1]->master));
}

// Losses of `steps` training steps on the tiny batch, and the final master weights.
struct Trajectory {
  std::vector<double> losses;
  std::map<std::string, at::Tensor> weights;
};

Trajectory Train(FsdpOptions o, int steps, bool freeze_vit = false) {
  auto model = TinyStage1();
  if (freeze_vit) {
    for (auto& p : model->model->vit_model->parameters()) p.set_requires_grad(false);
  }
  FsdpEngine engine(*model, OneRank(), o);
  engine.InitFromModel();
  const PackedBatch batch = TinyBatch();
  Trajectory t;
  for (int64_t step = 1; step <= steps; ++step) {
    engine.ZeroGrad();
    engine.BeginForward();
    ForwardOutputs out = model->Forward(batch);
    engine.EndForward(/*backward_follows=*/true);
    at::Tensor loss = out.ce.mean();
    loss.backward();
    t.losses.push_back(loss.item<double>());
    engine.OptimizerStep(AdamWHyper{}, 1e-3, step, /*max_norm=*/1.0, /*ema_decay=*/0.9);
  }
  t.weights = engine.GatherFull(/*ema=*/false);
  return t;
}

// Frozen parameters (freeze_vit) have no master, gradient, moments or EMA: the unit holds them
// once, in the compute dtype; they stay bit-identical while the rest trains.
TEST(FsdpEngineTest, FrozenParametersAreHeldOnceWithoutOptimizerState) {
  auto model = TinyStage1();
  for (auto& p : model->model->vit_model->parameters()) p.set_requires_grad(false);
  const auto before = Clone(*model);
  FsdpEngine engine(*model, OneRank(), FsdpOptions{});
  engine.InitFromModel();
  int frozen_units = 0;
  for (const auto& unit : engine.units()) {
    if (unit->name().rfind("vit.", 0) != 0) continue;
    ++frozen_units;
    EXPECT_EQ(unit->trainable_numel(), 0) << unit->name();
    for (const at::Tensor* t :
         {&unit->master, &unit->grad, &unit->exp_avg, &unit->exp_avg_sq, &unit->ema}) {
      EXPECT_EQ(t->numel(), 0) << unit->name();
    }
    EXPECT_EQ(unit->frozen.numel(), unit->frozen_numel());
  }
  EXPECT_GT(frozen_units, 0);
  const Trajectory trained = Train(FsdpOptions{}, 2, /*freeze_vit=*/true);
  for (const auto& [key, value] : trained.weights) {
    if (key.rfind("vit_model.", 0) != 0) continue;
    bool same = false;
    for (const auto& [native, original] : before) {
      if (native.size() >= key.size() &&
          native.compare(native.size() - key.size(), key.size(), key) == 0) {
        same = original.equal(value);
        break;
      }
    }
    EXPECT_TRUE(same) << key << " changed while frozen";
  }
}

// train.optimizer_offload: the step runs on host copies of the master, moments and EMA, and
// gives bit-identical losses and weights (fp32 on CPU).
TEST(FsdpEngineTest, OptimizerOffloadGivesTheSameTraining) {
  FsdpOptions offload;
  offload.optimizer_offload = true;
  const Trajectory plain = Train(FsdpOptions{}, 3), offloaded = Train(offload, 3);
  ASSERT_EQ(plain.losses.size(), offloaded.losses.size());
  for (size_t i = 0; i < plain.losses.size(); ++i) EXPECT_EQ(plain.losses[i], offloaded.losses[i]);
  for (const auto& [key, value] : plain.weights) {
    EXPECT_TRUE(value.equal(offloaded.weights.at(key))) << key;
  }
  EXPECT_NE(plain.losses.front(), plain.losses.back());  // it trained
}

// A checkpoint written with other parameters frozen is refused with the reason.
TEST(FsdpEngineTest, AShardWithAnotherTrainableSplitIsRefused) {
  auto model = TinyStage1();
  FsdpEngine engine(*model, OneRank(), FsdpOptions{});
  engine.InitFromModel();
  const auto state = engine.ShardState();
  auto frozen_model = TinyStage1();
  for (auto& p : frozen_model->model->vit_model->parameters()) p.set_requires_grad(false);
  FsdpEngine other(*frozen_model, OneRank(), FsdpOptions{});
  other.InitFromModel();
  try {
    other.LoadOwnShard(state);
    ADD_FAILURE() << "loaded";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.freeze_*"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bagel::fsdp
