// The fully sharded engine against an unsharded single-process computation of the same ranks'
// batches with the official semantics (make_train_cases.py's train()): for W = 1, 2 and 4 ranks
// on Gloo (threads of this process), Stage 1 and Stage 2, full and hybrid sharding, the logged
// losses, grad norms and final weights and EMA agree within float32 tolerance; frozen weights
// stay bit-identical.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <thread>

#include "model/config/presets.h"
#include "model/io/state_dict_adapter.h"
#include "model/lora/lora_adapters.h"
#include "model/testing/tensor_compare.h"
#include "worker/data/sequence_packer.h"
#include "worker/data/synthetic_samples.h"
#include "worker/dist/local_launcher.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/sharded_step.h"

namespace bagel {
namespace {

constexpr int kSteps = 3;
constexpr int kAccum = 2;

struct RunSetup {
  int stage = 1;
  int world = 1;
  int shard_group = 0;
  bool freeze_vit = false;
  bool activation_checkpointing = false;
  bool optimizer_offload = false;
  bool lora = false;   // rank-4 adapters on the default targets, the base frozen
  bool audit = false;  // count host synchronisations inside each step (unread reports)
};

std::shared_ptr<BagelForUnifiedMultimodal> TinyModel(const RunSetup& s) {
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, s.stage);
  auto m = std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().dtype(at::kFloat));
  m->InitializeWeights(77);
  at::NoGradGuard no_grad;
  // Its own generator: ranks are threads of this process, and the default one is shared.
  at::Generator gen = at::detail::createCPUGenerator(5);
  if (m->model->llm2vae)
    m->model->llm2vae->weight.normal_(0.0, 0.05, gen);  // let MSE gradients flow
  if (s.freeze_vit) {
    for (auto& p : m->model->vit_model->parameters()) p.set_requires_grad(false);
  }
  if (s.lora) lora::AddLoraAdapters(*m, {4, 8.0, 0.0, {}}, 11);
  return m;
}

// batches[step][micro][rank], with injected noise for Stage 2.
std::vector<std::vector<std::vector<PackedBatch>>> Batches(const RunSetup& s) {
  at::Generator gen = at::detail::createCPUGenerator(1234);
  const std::vector<std::vector<std::string>> mixes =
      s.stage == 1 ? std::vector<std::vector<std::string>>{{"vlm"},
                                                           {"text", "vlm2"},
                                                           {"vlm2", "vlm"},
                                                           {"text"}}
                   : std::vector<std::vector<std::string>>{
                         {"vlm", "t2i"}, {"t2i", "text", "vlm"}, {"edit", "vlm"}, {"vlm2", "t2i"}};
  std::vector<std::vector<std::vector<PackedBatch>>> out(kSteps);
  for (int st = 0; st < kSteps; ++st) {
    out[st].resize(kAccum);
    for (int m = 0; m < kAccum; ++m) {
      for (int r = 0; r < s.world; ++r) {
        data::PackerConfig pc;
        pc.max_latent_size = 8;
        data::SequencePacker packer(pc, {252, 253, 254, 255});
        data::PackRandomness random{[] { return 0.5; },
                                    [&] { return at::randn({1}, gen).item<double>(); }};
        for (const auto& kind : mixes[(st + m + r) % mixes.size()])
          packer.Add(data::TinySample(kind, 250, gen), random);
        data::PackedSequence p = packer.Finish();
        PackedBatch b = p.batch;
        if (s.stage == 2 && p.padded_images.defined()) {
          b.padded_latent = at::randn({p.padded_images.size(0), 16, p.padded_images.size(2) / 8,
                                       p.padded_images.size(3) / 8},
                                      gen, at::kFloat);
          b.noise = at::randn({b.packed_vae_token_indexes.numel(), 64}, gen, at::kFloat);
        } else {
          b.patchified_vae_latent_shapes.clear();
        }
        b.DeriveHostFacts();  // as PackedBatch::To does for the trainer's batches
        out[st][m].push_back(std::move(b));
      }
    }
  }
  return out;
}

train::StepHyper Hyper() {
  train::StepHyper h;
  h.schedule = {train::LrSchedule::Kind::kConstant, 1e-3, 1, kSteps};
  h.max_grad_norm = 0.5;
  h.ema_decay = 0.9;
  h.loss_weights = {1.0, 0.5};
  return h;
}

struct Result {
  std::vector<std::string> syncs;  // audit: operators that synchronised inside a step
  std::vector<double> ce, mse, grad_norm;
  std::map<std::string, at::Tensor> params, ema;
};

// The official trainer's arithmetic, unsharded, one process: make_train_cases.py train().
Result Reference(const RunSetup& s) {
  auto model = TinyModel(s);
  auto batches = Batches(s);
  const train::StepHyper h = Hyper();
  std::vector<at::Tensor> params;
  std::map<std::string, at::Tensor> ema;
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    params.push_back(item.value());
    ema[io::NativeKeyToCheckpoint(item.key())] = item.value().detach().clone();
  }
  torch::optim::AdamW opt(
      params,
      torch::optim::AdamWOptions(h.schedule.lr).betas({0.9, 0.95}).eps(1e-15).weight_decay(0));
  Result r;
  const int w = s.world;
  for (int st = 0; st < kSteps; ++st) {
    opt.zero_grad();
    for (int m = 0; m < kAccum; ++m) {
      int64_t total_ce = 0, total_mse = 0;
      for (const auto& b : batches[st][m]) {
        total_ce += b.ce_loss_indexes.numel();
        if (b.mse_loss_indexes.defined()) total_mse += b.mse_loss_indexes.numel();
      }
      double ce_log = 0, mse_log = 0;
      for (const auto& b : batches[st][m]) {
        ForwardOutputs o = model->Forward(b);
        at::Tensor ce = o.ce.sum() * w / static_cast<double>(total_ce);
        at::Tensor loss = ce * h.loss_weights.ce;
        ce_log += ce.item<double>() / w;
        if (o.mse.defined() && total_mse > 0) {
          at::Tensor mse = o.mse.mean(-1).sum() * w / static_cast<double>(total_mse);
          loss = loss + mse * h.loss_weights.mse;
          mse_log += mse.item<double>() / w;
        }
        ((loss / kAccum) / w).backward();
      }
      r.ce.push_back(ce_log);
      r.mse.push_back(mse_log);
    }
    for (auto& g : opt.param_groups()) g.options().set_lr(h.schedule.At(st));
    r.grad_norm.push_back(torch::nn::utils::clip_grad_norm_(params, h.max_grad_norm));
    opt.step();
    at::NoGradGuard no_grad;
    for (const auto& item : model->named_parameters()) {
      if (!item.value().requires_grad()) continue;
      ema[io::NativeKeyToCheckpoint(item.key())]
          .mul_(h.ema_decay)
          .add_(item.value().detach(), 1 - h.ema_decay);
    }
  }
  for (const auto& item : model->named_parameters()) {
    r.params[io::NativeKeyToCheckpoint(item.key())] = item.value().detach().clone();
  }
  r.ema = ema;
  return r;
}

// The same with W ranks as threads of this process, each wrapped by the sharded engine.
Result Sharded(const RunSetup& s) {
  auto batches = Batches(s);
  const auto [listen_fd, port] = dist::ListenOnFreePort();
  std::vector<Result> results(s.world);
  std::vector<std::string> errors(s.world);
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < s.world; ++rank) {
    ranks.emplace_back([&, rank] {
      try {
        dist::DistEnv env;
        env.rank = rank;
        env.world_size = s.world;
        env.local_rank = rank;
        env.local_world_size = s.world;
        env.master_port = port;
        if (rank == 0) env.master_listen_fd = listen_fd;
        auto model = TinyModel(s);
        auto world = dist::Communicator::Create(env, at::kCPU, std::chrono::seconds(120));
        fsdp::FsdpOptions fo;
        fo.shard_group_size = s.shard_group;
        fo.activation_checkpointing = s.activation_checkpointing;
        fo.optimizer_offload = s.optimizer_offload;
        fsdp::FsdpEngine engine(*model, world, fo);
        engine.InitFromModel();
        train::ShardedStep step(*model, engine, Hyper());
        Result& r = results[rank];
        fsdp::HostSyncAudit audit;
        if (s.audit) engine.set_host_sync_audit(&audit);
        for (int st = 0; st < kSteps; ++st) {
          std::vector<PackedBatch> micro;
          for (int m = 0; m < kAccum; ++m) micro.push_back(batches[st][m][rank]);
          train::StepReport rep = step.Run(micro, std::nullopt, /*read=*/!s.audit);
          if (s.audit) rep.Read();  // after the step: the one read a logged step makes
          r.ce.insert(r.ce.end(), rep.micro_ce.begin(), rep.micro_ce.end());
          r.mse.insert(r.mse.end(), rep.micro_mse.begin(), rep.micro_mse.end());
          r.grad_norm.push_back(rep.grad_norm);
        }
        r.syncs = audit.syncs();
        engine.set_host_sync_audit(nullptr);
        r.params = engine.GatherFull(false);
        r.ema = engine.GatherFull(true);
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (int rank = 0; rank < s.world; ++rank) EXPECT_EQ(errors[rank], "") << "rank " << rank;
  return results[0];
}

void ExpectSame(const Result& want, const Result& got, const std::string& what) {
  ASSERT_EQ(want.ce.size(), got.ce.size());
  for (size_t i = 0; i < want.ce.size(); ++i) {
    EXPECT_NEAR(got.ce[i], want.ce[i], 1e-4 * std::abs(want.ce[i]) + 1e-6) << what << " ce " << i;
    EXPECT_NEAR(got.mse[i], want.mse[i], 1e-4 * std::abs(want.mse[i]) + 1e-6)
        << what << " mse " << i;
  }
  for (size_t i = 0; i < want.grad_norm.size(); ++i) {
    EXPECT_NEAR(got.grad_norm[i], want.grad_norm[i], 1e-4 * want.grad_norm[i])
        << what << " grad norm " << i;
  }
  std::map<std::string, at::Tensor> w, g;
  for (const auto& [k, v] : want.params) {
    if (k.find("vit_model.") == 0 && k.find("self_attn.k_proj.bias") != std::string::npos) continue;
    w["param." + k] = v;
    g["param." + k] = got.params.at(k);
  }
  for (const auto& [k, v] : want.ema) {
    if (k.find("vit_model.") == 0 && k.find("self_attn.k_proj.bias") != std::string::npos) continue;
    w["ema." + k] = v;
    g["ema." + k] = got.ema.at(k);
  }
  // As the reference cases: near-zero gradients make a few Adam updates rounding noise of +-lr.
  testing::OutlierAllowance outliers{{"param.", "ema."}, 2 * 3e-3, 1e-3};
  auto report = testing::CompareTensors(w, g, {1e-3, 2e-5}, &outliers);
  EXPECT_TRUE(report.ok) << what << "\n" << report.Text(what);
}

// Ranks are threads here: one intra-op thread each, or idle OpenMP teams spin against them.
class SingleThreaded : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kSingleThreaded = ::testing::AddGlobalTestEnvironment(new SingleThreaded);

class ShardedTrainingTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(ShardedTrainingTest, MatchesUnshardedOfficialArithmetic) {
  const auto [stage, world] = GetParam();
  RunSetup s{stage, world};
  ExpectSame(Reference(s), Sharded(s),
             "stage " + std::to_string(stage) + " W=" + std::to_string(world));
}

INSTANTIATE_TEST_SUITE_P(Ranks, ShardedTrainingTest,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Values(1, 2, 4)));

TEST(ShardedTrainingHybridTest, HybridShardingEqualsFullSharding) {
  RunSetup full{2, 4, 0};
  RunSetup hybrid{2, 4, 2};
  const Result a = Sharded(full), b = Sharded(hybrid);
  ExpectSame(a, b, "hybrid vs full");
}

TEST(ShardedTrainingCheckpointingTest, ActivationCheckpointingGivesTheSameTraining) {
  for (int stage : {1, 2}) {
    RunSetup plain{stage, 2};
    RunSetup recompute{stage, 2};
    recompute.activation_checkpointing = true;
    ExpectSame(Reference(plain), Sharded(recompute),
               "activation checkpointing, stage " + std::to_string(stage));
  }
}

// train.optimizer_offload on two ranks: the host-side step gives bit-identical training.
TEST(ShardedTrainingOffloadTest, OptimizerOffloadGivesIdenticalTraining) {
  RunSetup plain{2, 2};
  RunSetup offload{2, 2};
  offload.optimizer_offload = true;
  const Result a = Sharded(plain), b = Sharded(offload);
  ASSERT_EQ(a.ce.size(), b.ce.size());
  for (size_t i = 0; i < a.ce.size(); ++i) {
    EXPECT_EQ(a.ce[i], b.ce[i]) << "ce " << i;
    EXPECT_EQ(a.mse[i], b.mse[i]) << "mse " << i;
  }
  for (const auto& [k, v] : a.params) EXPECT_TRUE(v.equal(b.params.at(k))) << k;
  for (const auto& [k, v] : a.ema) EXPECT_TRUE(v.equal(b.ema.at(k))) << k;
}

TEST(ShardedTrainingFrozenTest, FrozenWeightsStayBitIdentical) {
  RunSetup s{1, 2, 0, /*freeze_vit=*/true};
  auto before = TinyModel(s);
  const Result r = Sharded(s);
  bool some_trained = false;
  for (const auto& item : before->named_parameters()) {
    const std::string key = io::NativeKeyToCheckpoint(item.key());
    if (key.rfind("vit_model.", 0) == 0) {
      EXPECT_TRUE(r.params.at(key).equal(item.value())) << key;
    } else if (item.value().requires_grad()) {
      some_trained |= !r.params.at(key).equal(item.value());
    }
  }
  EXPECT_TRUE(some_trained);
  ExpectSame(Reference(s), r, "frozen ViT");
}

// LoRA on both experts (Stage 2, two ranks): the sharded engine trains the adapters as the
// official arithmetic over the adapter parameters does, and no base weight moves.
TEST(ShardedTrainingLoraTest, OnlyTheAdaptersTrainAndMatchTheReference) {
  RunSetup s{2, 2};
  s.lora = true;
  auto before = TinyModel(s);
  const Result r = Sharded(s);
  int adapters_changed = 0;
  for (const auto& item : before->named_parameters()) {
    const std::string key = io::NativeKeyToCheckpoint(item.key());
    if (lora::IsLoraKey(key)) {
      adapters_changed += !r.params.at(key).equal(item.value());
    } else {
      EXPECT_TRUE(r.params.at(key).equal(item.value())) << key;
      EXPECT_TRUE(r.ema.at(key).equal(item.value())) << key;
    }
  }
  EXPECT_GT(adapters_changed, 0);
  ExpectSame(Reference(s), r, "LoRA");
}

// No host synchronisation from a step's first forward to its optimizer (issue 16): on a GPU each
// .item() or device-to-host copy stalls the host behind the device. Stage 2 (MoT routing, the
// fused cross-entropy, flow matching) with gradient accumulation, one and two ranks; the losses
// are the official arithmetic all the same.
TEST(ShardedTrainingHostSyncTest, AStepMakesNoHostSynchronisationBeforeItsOptimizer) {
  for (int world : {1, 2}) {
    RunSetup s{2, world};
    s.audit = true;
    const Result r = Sharded(s);
    std::string ops;
    for (const std::string& op : r.syncs) ops += " " + op;
    EXPECT_TRUE(r.syncs.empty()) << world << " rank(s):" << ops;
    ExpectSame(Reference(s), r, "audited, W=" + std::to_string(world));
  }
  // The audit itself sees a read.
  fsdp::HostSyncAudit audit;
  audit.Begin();
  (void)at::ones({2}).sum().item<float>();
  audit.End();
  (void)at::ones({2}).sum().item<float>();
  EXPECT_EQ(audit.count(), 1);
}

}  // namespace
}  // namespace bagel
