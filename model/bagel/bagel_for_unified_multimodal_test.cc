#include "model/bagel/bagel_for_unified_multimodal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "model/bagel/hf_export.h"
#include "model/bagel/position_embedding.h"
#include "model/config/presets.h"
#include "model/io/safetensors.h"
#include "model/siglip/patch_embedding.h"
#include "model/testing/tiny_model.h"
#include "testing/temp_dir.h"

namespace bagel {
namespace {

namespace fs = std::filesystem;

using testing::HandBatch;
using testing::Tiny;
using testing::TinyTrained;

TEST(BagelForUnifiedMultimodalTest, SeedApiAccessors) {
  auto s1 = Tiny(1), s2 = Tiny(2);
  EXPECT_EQ(s1->HiddenSize(), 64);
  EXPECT_EQ(s1->NumHeads(), 4);
  EXPECT_FALSE(s1->UseMoe());
  EXPECT_TRUE(s2->UseMoe());
  EXPECT_EQ(s1->GetInputEmbeddings().weight.sizes(), (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(s1->GetOutputEmbeddings().weight.sizes(), (std::vector<int64_t>{256, 64}));
  EXPECT_FALSE(s1->GetInputEmbeddings().weight.is_same(s1->GetOutputEmbeddings().weight));
  EXPECT_EQ(s1->model->vit_model->vision_model->encoder->num_layers(), 2);  // 3 in the file
  EXPECT_EQ(s1->model->time_embedder, nullptr);
  EXPECT_NE(s2->model->time_embedder, nullptr);
  EXPECT_TRUE(BagelForUnifiedMultimodal::SupportsConfig(s1->config()));
  BagelConfig bad = s1->config();
  bad.llm.num_key_value_heads = 3;
  EXPECT_FALSE(BagelForUnifiedMultimodal::SupportsConfig(bad));
}

TEST(BagelForUnifiedMultimodalTest, InitializeWeightsIsSeededAndFollowsTheRecipe) {
  auto a = Tiny(2, 7), b = Tiny(2, 7), c = Tiny(2, 8);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  bool any_diff = false;
  for (const auto& item : pa) {
    EXPECT_TRUE(item.value().equal(*pb.find(item.key()))) << item.key();
    any_diff |= !item.value().equal(*pc.find(item.key()));
  }
  EXPECT_TRUE(any_diff);
  const BagelModel& m = *a->model;
  EXPECT_TRUE(m.language_model->model->embed_tokens->weight[0].eq(0).all().item<bool>());  // pad 0
  EXPECT_TRUE(m.llm2vae->weight.eq(0).all().item<bool>());
  EXPECT_TRUE(m.language_model->model->norm->weight.eq(1).all().item<bool>());
  auto& l0 = m.language_model->model->layer(0);
  EXPECT_TRUE(l0.self_attn->q_proj->bias.eq(0).all().item<bool>());
  EXPECT_NEAR(l0.mlp->up_proj->weight.std().item<double>(), 0.02, 0.003);
  auto& v0 = m.vit_model->vision_model->encoder->layer(0);
  EXPECT_TRUE(v0.layer_norm1->weight.eq(1).all().item<bool>());
  EXPECT_TRUE(v0.self_attn->k_proj->bias.eq(0).all().item<bool>());
  const double xavier = std::sqrt(6.0 / (32 + 32));
  EXPECT_LE(v0.self_attn->q_proj->weight.abs().max().item<double>(), xavier);
  EXPECT_TRUE(m.vit_pos_embed->pos_embed.equal(SinCos2dTable(70, 64)));
  EXPECT_TRUE(m.latent_pos_embed->pos_embed.equal(SinCos2dTable(8, 64)));
}

TEST(BagelForUnifiedMultimodalTest, FromPretrainedRoundTripsAndNormalisesTheStage) {
  const bagel::testing::TempDir tmp;
  const fs::path& dir = tmp.path();
  auto model = Tiny(2, 3);
  WriteBagelConfig(model->config(), dir.string());
  io::WriteSafetensors((dir / "ema.safetensors").string(), io::CheckpointStateDict(*model));
  auto loaded =
      BagelForUnifiedMultimodal::FromPretrained(dir.string(), std::string("stage2"), true);
  EXPECT_EQ(loaded.model->Stage(), 2);
  for (const auto& item : model->named_parameters()) {
    EXPECT_TRUE(item.value().equal(*loaded.model->named_parameters().find(item.key())))
        << item.key();
  }
  auto s1 = BagelForUnifiedMultimodal::FromPretrained(dir.string(), 1, true);
  EXPECT_EQ(s1.model->Stage(), 1);
  EXPECT_FALSE(s1.report.dropped.empty());
  EXPECT_THROW(BagelForUnifiedMultimodal::FromPretrained(dir.string(), 3), c10::Error);
}

// Stage 2 from a Stage 1 checkpoint (SERVICE.md): each *_moe_gen weight copied from its
// understanding twin, the flow-matching heads freshly initialised, and every such key reported.
TEST(BagelForUnifiedMultimodalTest, Stage2FromAStage1CheckpointCopiesTheGenerationExpert) {
  // A folder inside the temporary one: the export stages in a sibling, dir + ".staging".
  const bagel::testing::TempDir tmp;
  const fs::path dir = tmp.path() / "checkpoint";
  auto s1 = Tiny(1, 3);
  ExportHfCheckpoint(*s1, dir.string());
  auto s2 = BagelForUnifiedMultimodal::FromPretrained(dir.string(), 2, /*strict=*/false);
  const auto& l0 = s2.model->model->language_model->model->layer(0);
  EXPECT_TRUE(l0.self_attn->q_proj_moe_gen->weight.equal(l0.self_attn->q_proj->weight));
  EXPECT_TRUE(l0.mlp_moe_gen->down_proj->weight.equal(l0.mlp->down_proj->weight));
  EXPECT_TRUE(l0.input_layernorm_moe_gen->weight.equal(l0.input_layernorm->weight));
  EXPECT_TRUE(s2.model->model->language_model->model->norm_moe_gen->weight.equal(
      s2.model->model->language_model->model->norm->weight));
  EXPECT_TRUE(s2.model->model->llm2vae->weight.eq(0).all().item<bool>());
  EXPECT_GT(s2.model->model->vae2llm->weight.abs().sum().item<double>(), 0);
  bool copied = false, fresh = false;
  for (const auto& k : s2.report.initialized) {
    copied |= k.find("q_proj_moe_gen.weight (copied from") != std::string::npos;
    fresh |= k == "time_embedder.mlp.0.weight";
  }
  EXPECT_TRUE(copied && fresh);
  EXPECT_THROW(BagelForUnifiedMultimodal::FromPretrained(dir.string(), 2, /*strict=*/true),
               c10::Error);
}

TEST(BagelForUnifiedMultimodalTest, Stage1ForwardKeepsSamplesApart) {
  auto model = Tiny(1);
  at::Generator gen = at::detail::createCPUGenerator(5);
  PackedBatch b = HandBatch(false, gen);
  b.Validate(256);
  ForwardOutputs out = model->Forward(b);
  ASSERT_TRUE(out.ce.defined());
  EXPECT_EQ(out.ce.numel(), 6);
  EXPECT_FALSE(out.mse.defined());
  EXPECT_TRUE(out.ce.isfinite().all().item<bool>());
  // Changing sample 1's tokens leaves sample 0's CE unchanged (samples never attend across).
  PackedBatch c = b;
  c.packed_text_ids = b.packed_text_ids.clone();
  c.packed_text_ids[12] = 99;
  ForwardOutputs out2 = model->Forward(c);
  EXPECT_TRUE(out2.ce.narrow(0, 0, 3).equal(out.ce.narrow(0, 0, 3)));
  EXPECT_FALSE(out2.ce.narrow(0, 3, 3).equal(out.ce.narrow(0, 3, 3)));
  out.ce.mean().backward();
  EXPECT_GT(model->model->connector->fc1->weight.grad().abs().sum().item<double>(), 0);
}

// freeze_und (BAGEL.md §2.7): understanding-path gradients exactly zero, the generation path
// and lm_head still learn.
TEST(BagelForUnifiedMultimodalTest, FreezeUndDetachesTheUnderstandingPath) {
  auto model = TinyTrained(2);
  model->SetFreezeUnd(true);
  at::Generator gen = at::detail::createCPUGenerator(6);
  ForwardOutputs out = model->Forward(HandBatch(true, gen));
  ASSERT_TRUE(out.mse.defined());
  (out.ce.mean() + out.mse.mean(-1).mean()).backward();
  auto grad_sum = [](const at::Tensor& p) {
    return p.grad().defined() ? p.grad().abs().sum().item<double>() : 0.0;
  };
  const BagelModel& m = *model->model;
  auto& l0 = m.language_model->model->layer(0);
  EXPECT_EQ(grad_sum(m.language_model->model->embed_tokens->weight), 0.0);
  EXPECT_EQ(grad_sum(l0.self_attn->q_proj->weight), 0.0);
  EXPECT_EQ(grad_sum(l0.mlp->up_proj->weight), 0.0);
  EXPECT_EQ(grad_sum(m.connector->fc1->weight), 0.0);
  EXPECT_EQ(grad_sum(m.vit_model->vision_model->embeddings->patch_embedding->weight), 0.0);
  EXPECT_EQ(grad_sum(m.language_model->model->norm->weight), 0.0);
  EXPECT_GT(grad_sum(l0.self_attn->q_proj_moe_gen->weight), 0.0);
  EXPECT_GT(grad_sum(l0.mlp_moe_gen->up_proj->weight), 0.0);
  EXPECT_GT(grad_sum(m.vae2llm->weight), 0.0);
  EXPECT_GT(grad_sum(m.llm2vae->weight), 0.0);
  EXPECT_GT(grad_sum(m.time_embedder->fc_in->weight), 0.0);
  EXPECT_GT(grad_sum(m.language_model->lm_head->weight), 0.0);
}

// The parameters FreezeUnderstandingParameters leaves trainable are exactly those freeze_und's
// detaching gives a non-zero gradient.
TEST(BagelForUnifiedMultimodalTest, FreezeUnderstandingParametersMatchesTheGradientFlow) {
  auto model = TinyTrained(2);
  model->SetFreezeUnd(true);
  at::Generator gen = at::detail::createCPUGenerator(6);
  ForwardOutputs out = model->Forward(HandBatch(true, gen));
  (out.ce.mean() + out.mse.mean(-1).mean()).backward();
  std::map<std::string, bool> learns;
  for (const auto& item : model->named_parameters()) {
    const at::Tensor& g = item.value().grad();
    learns[item.key()] = g.defined() && g.abs().sum().item<double>() > 0;
  }
  auto frozen = TinyTrained(2);
  frozen->FreezeUnderstandingParameters();
  int trainable = 0;
  for (const auto& item : frozen->named_parameters()) {
    if (!learns.count(item.key())) continue;  // requires_grad was already off (sin-cos tables)
    EXPECT_EQ(item.value().requires_grad(), learns.at(item.key())) << item.key();
    trainable += item.value().requires_grad();
  }
  EXPECT_GT(trainable, 0);
}

TEST(BagelForUnifiedMultimodalTest, Stage2WithoutFreezeTrainsBothExperts) {
  auto model = TinyTrained(2);
  at::Generator gen = at::detail::createCPUGenerator(6);
  ForwardOutputs out = model->Forward(HandBatch(true, gen));
  (out.ce.mean() + out.mse.mean(-1).mean()).backward();
  auto& l0 = model->model->language_model->model->layer(0);
  EXPECT_GT(l0.self_attn->q_proj->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(l0.self_attn->q_proj_moe_gen->weight.grad().abs().sum().item<double>(), 0);
}

// Grouped MoT routing (one permutation per forward) computes what the default routing computes:
// the same losses and the same gradients, with and without freeze_und.
TEST(BagelForUnifiedMultimodalTest, GroupedRoutingEqualsTheDefault) {
  for (bool freeze : {false, true}) {
    SCOPED_TRACE(freeze ? "freeze_und" : "training both experts");
    std::vector<at::Tensor> losses, grads;
    for (bool grouped : {false, true}) {
      auto model = TinyTrained(2);
      model->SetFreezeUnd(freeze);
      model->SetGroupedRouting(grouped);
      at::Generator gen = at::detail::createCPUGenerator(6);
      ForwardOutputs out = model->Forward(HandBatch(true, gen));
      (out.ce.mean() + out.mse.mean(-1).mean()).backward();
      losses.push_back(at::cat({out.ce.flatten(), out.mse.flatten()}).detach());
      std::vector<at::Tensor> g;
      for (const auto& p : model->parameters()) {
        g.push_back(p.grad().defined() ? p.grad().flatten() : at::zeros({p.numel()}));
      }
      grads.push_back(at::cat(g));
    }
    EXPECT_TRUE(at::allclose(losses[0], losses[1], 1e-6, 1e-6));
    EXPECT_TRUE(at::allclose(grads[0], grads[1], 1e-5, 1e-6));
    EXPECT_GT(grads[1].abs().sum().item<double>(), 0.0);
  }
}

TEST(BagelForUnifiedMultimodalTest, BadBatchesAreRefusedNamingTheField) {
  auto model = Tiny(1);
  at::Generator gen = at::detail::createCPUGenerator(5);
  PackedBatch b = HandBatch(false, gen);
  PackedBatch bad = b;
  bad.packed_text_indexes = b.packed_text_indexes.clone();
  bad.packed_text_indexes[0] = 400;
  try {
    bad.Validate(256);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("packed_text_indexes"), std::string::npos);
  }
  bad = b;
  bad.packed_text_ids = b.packed_text_ids.clone();
  bad.packed_text_ids[0] = 256;
  EXPECT_THROW(bad.Validate(256), c10::Error);
  bad = b;
  bad.vit_token_seqlens = {3};
  EXPECT_THROW(bad.Validate(256), c10::Error);
}

}  // namespace
}  // namespace bagel
