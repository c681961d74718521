// The memory planner's arithmetic: parameter counts against the released BAGEL-7B-MoT schema,
// what freezing and optimizer offload remove from the device, and the 7B targets of
// docs/MEMORY.md. How close device_bytes comes to what bagel-train measures is
// tests/training/memory_plan_test.sh.
#include "worker/plan/memory_plan.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/golden_dir.h"

namespace bagel::plan {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

config::JobSpec Spec(const std::string& yaml) {
  const auto parsed = config::ParseJobSpec(yaml);
  EXPECT_TRUE(parsed.ok()) << parsed.ErrorText();
  return parsed.spec;
}

// The official Stage 2 recipe at 7B: expected 10,240 / max 11,520 tokens, bf16, checkpointing.
std::string Bagel7bStage2(const std::string& model_extra, const std::string& train_extra) {
  return "model: {stage: 2, init_from: {preset: bagel-7b}, vae: /nonexistent/ae.safetensors" +
         model_extra +
         "}\n"
         "data:\n"
         "  groups: [{name: demo, type: demo}]\n"
         "  expected_num_tokens: 10240\n"
         "  max_num_tokens: 11520\n"
         "  max_num_tokens_per_sample: 10240\n"
         "train: {steps: 10, precision: bf16, activation_checkpointing: true" +
         train_extra +
         "}\n"
         "parallel: {workers: 1, gpus_per_worker: 8}\n"
         "checkpoint: {export_hf: false}\n";
}

PlanOptions Ranks(int n) {
  PlanOptions o;
  o.world_size = n;
  o.runtime_bytes = 0;
  return o;
}

TEST(MemoryPlanTest, Bagel7bHasTheReleasedCheckpointsParameters) {
  std::ifstream in(bagel::testing::GoldenDir() / "schema/bagel-7b-mot.json");
  ASSERT_TRUE(in) << "no schema in the reference cases";
  const auto schema = nlohmann::json::parse(in);
  const MemoryPlan plan = PlanMemory(Spec(Bagel7bStage2("", "")), Ranks(8));
  EXPECT_EQ(plan.total_params, schema.at("counts").at("ema_params").get<int64_t>());
  // All but the two sin-cos position tables (70x70 ViT and 64x64 latent positions, 3584 wide).
  EXPECT_EQ(plan.total_params - plan.trainable_params, (70 * 70 + 64 * 64) * 3584);
  EXPECT_EQ(plan.device, "cuda");
  ASSERT_EQ(plan.ranks.size(), 8u);
}

// freeze_vit: no gradient, moments or EMA for the ViT; its weights once, in bf16, sharded.
TEST(MemoryPlanTest, FrozenParametersHaveNoOptimizerState) {
  const MemoryPlan full = PlanMemory(Spec(Bagel7bStage2("", "")), Ranks(8));
  const MemoryPlan frozen = PlanMemory(Spec(Bagel7bStage2(", freeze_vit: true", "")), Ranks(8));
  const int64_t vit = full.trainable_params - frozen.trainable_params;
  EXPECT_GT(vit, 300'000'000);  // SigLIP so400m
  EXPECT_EQ(frozen.total_params, full.total_params);
  const RankPlan &a = full.ranks[0], &b = frozen.ranks[0];
  // Shards are padded per unit, so allow a few elements per unit.
  EXPECT_NEAR(static_cast<double>(a.optimizer_bytes - b.optimizer_bytes), 8.0 * vit / 8, 1e4);
  EXPECT_NEAR(static_cast<double>(a.ema_bytes - b.ema_bytes), 4.0 * vit / 8, 1e4);
  EXPECT_NEAR(static_cast<double>(a.grads_bytes - b.grads_bytes), 4.0 * vit / 8, 1e4);
  // Master (4) + bf16 compute copy (2) become one bf16 copy (2).
  EXPECT_NEAR(static_cast<double>(a.params_bytes - b.params_bytes), 4.0 * vit / 8, 1e4);
}

// freeze_und keeps only the generation path trainable.
TEST(MemoryPlanTest, FreezeUndTrainsTheGenerationPathOnly) {
  const MemoryPlan plan = PlanMemory(Spec(Bagel7bStage2(", freeze_und: true", "")), Ranks(8));
  EXPECT_GT(plan.trainable_params, plan.total_params / 3);
  EXPECT_LT(plan.trainable_params, plan.total_params * 2 / 3);
}

// optimizer_offload: master, moments and EMA leave the device for the host.
TEST(MemoryPlanTest, OffloadMovesMasterMomentsAndEmaToTheHost) {
  const MemoryPlan on = PlanMemory(Spec(Bagel7bStage2("", "")), Ranks(2));
  const MemoryPlan off = PlanMemory(Spec(Bagel7bStage2("", ", optimizer_offload: true")), Ranks(2));
  const RankPlan &a = on.ranks[0], &b = off.ranks[0];
  // The master is as large as the EMA (float32 over the trainable shard).
  EXPECT_EQ(b.offloaded_bytes, a.optimizer_bytes + 2 * a.ema_bytes);
  EXPECT_EQ(a.device_bytes - b.device_bytes, b.offloaded_bytes);
  EXPECT_GT(b.host_bytes, b.offloaded_bytes);
}

// The targets of docs/MEMORY.md for BAGEL-7B-MoT Stage 2 (official recipe).
TEST(MemoryPlanTest, Bagel7bTargets) {
  const MemoryPlan eight = PlanMemory(Spec(Bagel7bStage2("", "")), Ranks(8));
  EXPECT_LE(eight.ranks[0].device_bytes / kGiB, 60.0) << eight.ToJson().dump(2);
  EXPECT_TRUE(eight.fits);
  const MemoryPlan two = PlanMemory(Spec(Bagel7bStage2("", ", optimizer_offload: true")), Ranks(2));
  EXPECT_LE(two.ranks[0].device_bytes / kGiB, 75.0) << two.ToJson().dump(2);
  // LoRA r = 32, alpha 64 on both experts' projections, one GPU: the frozen base in bf16.
  const MemoryPlan lora =
      PlanMemory(Spec(Bagel7bStage2("", "") + "lora: {rank: 32, alpha: 64}\n"), Ranks(1));
  EXPECT_LE(lora.ranks[0].device_bytes / kGiB, 70.0) << lora.ToJson().dump(2);
  // q/k/v/o + gate/up/down of both experts in 28 layers: r * (in + out) each.
  const int64_t h = 3584, kv = 512, i = 18944;
  EXPECT_EQ(lora.trainable_params, 2 * 28 * 32 * (2 * (h + h) + 2 * (h + kv) + 3 * (h + i)));
  PlanOptions small_gpu = Ranks(8);
  small_gpu.gpu_memory_gib = 24;
  EXPECT_FALSE(PlanMemory(Spec(Bagel7bStage2("", "")), small_gpu).fits);
}

TEST(MemoryPlanTest, TheJsonHasEveryField) {
  const auto j = PlanMemory(Spec(Bagel7bStage2("", "")), Ranks(2)).ToJson();
  for (const char* key : {"trainable_params", "total_params", "fits", "ranks"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* key : {"params_bytes", "grads_bytes", "optimizer_bytes", "ema_bytes",
                          "gathered_bytes", "activations_bytes", "device_bytes", "host_bytes"}) {
    EXPECT_TRUE(j.at("ranks").at(1).contains(key)) << key;
    EXPECT_GT(j.at("ranks").at(1).at(key).get<int64_t>(), 0) << key;
  }
}

}  // namespace
}  // namespace bagel::plan
