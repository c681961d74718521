#include "config/job_spec.h"

#include <gtest/gtest.h>

#include <random>

namespace bagel::config {
namespace {

const char* kMinimal = R"(
model:
  stage: 1
  init_from: {preset: tiny}
data:
  groups: [{name: demo, type: demo}]
train:
  steps: 10
)";

const char* kFull = R"(
name: bagel-sft.v2
model:
  stage: stage2
  init_from: {path: /ckpt/BAGEL-7B-MoT}
  vae: /ckpt/BAGEL-7B-MoT/ae.safetensors
  freeze_vit: true
  freeze_und: true
  max_latent_size: 64
data:
  groups:
    - name: vlm
      type: vlm_sft
      paths: [/data/vlm/train.jsonl]
      image_root: /data/vlm/images
      weight: 2.5
      num_used_data: 1000
      vit_transform: {max_size: 980, min_size: 378, stride: 14, max_pixels: 2007040}
    - name: t2i
      type: t2i
      paths: [/data/t2i]
      mandatory: true
  tokenizer: /ckpt/BAGEL-7B-MoT
  expected_num_tokens: 10240
  max_num_tokens: 11520
  max_num_tokens_per_sample: 10240
  cfg_dropout: {text: 0.1, vit: 0.3, vae: 0.3}
train:
  steps: 5000
  lr: 2.0e-5
  warmup_steps: 100
  schedule: cosine
  ema_decay: 0.999
  ce_weight: 0.25
  grad_accum: 4
  precision: fp32
parallel: {workers: 2, gpus_per_worker: 8, sharding: hybrid, shard_group_size: 8}
checkpoint: {every_steps: 200, keep_last: 2, export_hf: true, async: true, export_dtype: fp32,
             export_model: true, export_shard_gib: 4.5}
scheduling: {priority: 10, max_restarts: 5}
eval:
  every_steps: 500
  prompts: ["a red cube", "a blue sphere"]
  image_size: 512
lora:
  rank: 32
  alpha: 64
  dropout: 0.05
  targets: ['^language_model\.model\.layers\.\d+\.self_attn\.(q|v)_proj(_moe_gen)?$', "mlp"]
)";

bool HasError(const JobSpecParse& p, const std::string& path) {
  for (const auto& e : p.errors) {
    if (e.path == path) return true;
  }
  return false;
}

TEST(JobSpecTest, MinimalSpecGetsTheOfficialDefaults) {
  JobSpecParse p = ParseJobSpec(kMinimal);
  ASSERT_TRUE(p.ok()) << p.ErrorText();
  EXPECT_EQ(p.spec.model.stage, 1);
  EXPECT_EQ(p.spec.model.init_from.kind, InitFrom::Kind::kPreset);
  EXPECT_EQ(p.spec.train.steps, 10);
  EXPECT_DOUBLE_EQ(p.spec.train.beta2, 0.95);
  EXPECT_DOUBLE_EQ(p.spec.train.eps, 1e-15);
  EXPECT_EQ(p.spec.data.expected_num_tokens, 32768);
  EXPECT_EQ(p.spec.parallel.world_size(), 1);
  EXPECT_FALSE(p.spec.eval.enabled);
}

TEST(JobSpecTest, FullSpecParsesEveryField) {
  JobSpecParse p = ParseJobSpec(kFull);
  ASSERT_TRUE(p.ok()) << p.ErrorText();
  const JobSpec& s = p.spec;
  EXPECT_EQ(s.name, "bagel-sft.v2");
  EXPECT_EQ(s.model.stage, 2);
  EXPECT_EQ(s.model.init_from.path, "/ckpt/BAGEL-7B-MoT");
  EXPECT_TRUE(s.model.freeze_und);
  EXPECT_EQ(*s.model.max_latent_size, 64);
  ASSERT_EQ(s.data.groups.size(), 2u);
  EXPECT_DOUBLE_EQ(s.data.groups[0].weight, 2.5);
  EXPECT_EQ(*s.data.groups[0].num_used_data, 1000);
  EXPECT_TRUE(s.data.groups[1].mandatory);
  EXPECT_DOUBLE_EQ(s.data.cfg_dropout.vit, 0.3);
  EXPECT_EQ(s.train.schedule, "cosine");
  EXPECT_EQ(s.train.grad_accum, 4);
  EXPECT_EQ(s.parallel.world_size(), 16);
  EXPECT_EQ(s.checkpoint.keep_last, 2);
  EXPECT_EQ(s.checkpoint.async, std::optional<bool>(true));
  EXPECT_EQ(s.checkpoint.export_dtype, "fp32");
  EXPECT_TRUE(s.checkpoint.export_model);
  EXPECT_DOUBLE_EQ(s.checkpoint.export_shard_gib, 4.5);
  const JobSpec defaults = ParseJobSpec(kMinimal).spec;
  EXPECT_FALSE(defaults.checkpoint.async.has_value());
  EXPECT_EQ(defaults.checkpoint.export_dtype, "bf16");
  EXPECT_FALSE(defaults.checkpoint.export_model);
  EXPECT_EQ(s.scheduling.priority, 10);
  EXPECT_TRUE(s.eval.enabled);
  EXPECT_EQ(s.eval.prompts.size(), 2u);
  EXPECT_TRUE(s.lora.enabled);
  EXPECT_EQ(s.lora.rank, 32);
  EXPECT_DOUBLE_EQ(s.lora.alpha, 64);
  EXPECT_DOUBLE_EQ(s.lora.dropout, 0.05);
  ASSERT_EQ(s.lora.targets.size(), 2u);
  EXPECT_EQ(s.lora.targets[0],
            R"(^language_model\.model\.layers\.\d+\.self_attn\.(q|v)_proj(_moe_gen)?$)");
  EXPECT_FALSE(ParseJobSpec(kMinimal).spec.lora.enabled);
}

TEST(JobSpecTest, CheckpointExportAndAsyncFieldsAreValidated) {
  const std::string base = kMinimal;
  const JobSpecParse bad =
      ParseJobSpec(base + "checkpoint: {async: maybe, export_dtype: fp16, export_shard_gib: -1}\n");
  EXPECT_TRUE(HasError(bad, "checkpoint.async"));
  EXPECT_TRUE(HasError(bad, "checkpoint.export_dtype"));
  EXPECT_TRUE(HasError(bad, "checkpoint.export_shard_gib"));
}

TEST(JobSpecTest, LoraSectionIsValidated) {
  const std::string base = kMinimal;
  const JobSpecParse defaults = ParseJobSpec(base + "lora: {}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.ErrorText();
  EXPECT_TRUE(defaults.spec.lora.enabled);
  EXPECT_EQ(defaults.spec.lora.rank, 16);
  EXPECT_TRUE(defaults.spec.lora.targets.empty());
  const JobSpecParse bad = ParseJobSpec(
      base + "lora: {rank: 0, alpha: -1, dropout: 1.0, targets: ['(unclosed'], extra: 1}\n");
  EXPECT_TRUE(HasError(bad, "lora.rank"));
  EXPECT_TRUE(HasError(bad, "lora.alpha"));
  EXPECT_TRUE(HasError(bad, "lora.dropout"));
  EXPECT_TRUE(HasError(bad, "lora.targets[0]"));
  EXPECT_TRUE(HasError(bad, "lora.extra"));
  EXPECT_TRUE(HasError(ParseJobSpec(base + "lora: {targets: []}\n"), "lora.targets"));
  EXPECT_TRUE(HasError(ParseJobSpec(base + "lora: [1]\n"), "lora"));
}

TEST(JobSpecTest, CanonicalYamlRoundTrips) {
  for (const char* text : {kMinimal, kFull}) {
    JobSpecParse a = ParseJobSpec(text);
    ASSERT_TRUE(a.ok());
    const std::string yaml = JobSpecToYaml(a.spec);
    JobSpecParse b = ParseJobSpec(yaml);
    ASSERT_TRUE(b.ok()) << b.ErrorText() << yaml;
    EXPECT_EQ(JobSpecToYaml(b.spec), yaml);
    EXPECT_DOUBLE_EQ(b.spec.train.lr, a.spec.train.lr);
  }
}

TEST(JobSpecTest, InvalidFieldsAreNamedWithValueAndExpectation) {
  struct Case {
    std::string yaml;
    std::string path;
  };
  const std::string base_model = "model: {stage: 1, init_from: {preset: tiny}}\n";
  const std::string base_data = "data: {groups: [{name: d, type: demo}]}\n";
  const std::string base_train = "train: {steps: 10}\n";
  std::vector<Case> cases = {
      {base_data + base_train, "model"},
      {"model: {stage: 3, init_from: {preset: tiny}}\n" + base_data + base_train, "model.stage"},
      {"model: {stage: 1, init_from: {path: /a, job: b}}\n" + base_data + base_train,
       "model.init_from"},
      {"model: {stage: 2, init_from: {preset: tiny}}\n" + base_data + base_train, "model.vae"},
      {"model: {stage: 1, init_from: {preset: tiny}, freeze_und: true}\n" + base_data + base_train,
       "model.freeze_und"},
      {"model: {stage: 1, init_from: {preset: huge}}\n" + base_data + base_train,
       "model.init_from.preset"},
      {base_model + "data: {groups: []}\n" + base_train, "data.groups"},
      {base_model + "data: {groups: [{name: d, type: video}]}\n" + base_train,
       "data.groups[0].type"},
      {base_model + "data: {groups: [{name: d, type: t2i}]}\n" + base_train,
       "data.groups[0].paths"},
      {base_model + "data: {groups: [{name: d, type: demo}, {name: d, type: demo}]}\n" + base_train,
       "data.groups[1].name"},
      {base_model + "data: {groups: [{name: d, type: demo, weight: -1}]}\n" + base_train,
       "data.groups[0].weight"},
      {base_model +
           "data: {groups: [{name: d, type: demo}], expected_num_tokens: 9, max_num_tokens: 8}\n" +
           base_train,
       "data.expected_num_tokens"},
      {base_model + "data: {groups: [{name: d, type: demo}], cfg_dropout: {text: 1.5}}\n" +
           base_train,
       "data.cfg_dropout.text"},
      {base_model + base_data + "train: {steps: 0}\n", "train.steps"},
      {base_model + base_data + "train: {steps: 10, lr: -1e-4}\n", "train.lr"},
      {base_model + base_data + "train: {steps: 10, lr: abc}\n", "train.lr"},
      {base_model + base_data + "train: {steps: 10, beta2: 1.0}\n", "train.beta2"},
      {base_model + base_data + "train: {steps: 10, precision: fp16}\n", "train.precision"},
      {base_model + base_data + "train: {steps: 10, stepz: 3}\n", "train.stepz"},
      {base_model + base_data + base_train +
           "parallel: {workers: 3, gpus_per_worker: 1, sharding: hybrid, shard_group_size: 2}\n",
       "parallel.shard_group_size"},
      {base_model + base_data + base_train + "parallel: {gpus_per_worker: 17}\n",
       "parallel.gpus_per_worker"},
      {base_model + base_data + base_train + "scheduling: {priority: 1000}\n",
       "scheduling.priority"},
      {base_model + base_data + base_train + "name: 'has spaces'\n", "name"},
      {base_model + base_data + base_train + "extra: 1\n", "extra"},
      {base_model + base_data + base_train + "eval: {image_size: 100}\n", "eval.image_size"},
  };
  for (const auto& c : cases) {
    JobSpecParse p = ParseJobSpec(c.yaml);
    EXPECT_TRUE(HasError(p, c.path)) << "expected an error at " << c.path << " for:\n"
                                     << c.yaml << "got:\n"
                                     << p.ErrorText();
    for (const auto& e : p.errors) {
      EXPECT_FALSE(e.expected.empty());
      EXPECT_FALSE(e.value.empty());
    }
  }
}

TEST(JobSpecTest, AKeyWrittenTwiceIsRefusedWithBothLines) {
  const JobSpecParse p = ParseJobSpec(std::string(kMinimal) + "train: {steps: 20}\n");
  ASSERT_TRUE(HasError(p, "train")) << p.ErrorText();
  EXPECT_NE(p.ErrorText().find("train: got the key written twice (lines 7 and 9)"),
            std::string::npos)
      << p.ErrorText();
  const JobSpecParse nested = ParseJobSpec(
      "model: {stage: 1, init_from: {preset: tiny, preset: small}}\n"
      "data: {groups: [{name: d, type: demo}]}\n"
      "train:\n  steps: 10\n  lr: 1.0e-4\n  lr: 2.0e-4\n");
  EXPECT_TRUE(HasError(nested, "model.init_from.preset")) << nested.ErrorText();
  EXPECT_TRUE(HasError(nested, "train.lr")) << nested.ErrorText();
  EXPECT_NE(nested.ErrorText().find("lines 5 and 6"), std::string::npos) << nested.ErrorText();
}

// What bagel-train would otherwise find only at start, after queueing and scheduling.
TEST(JobSpecTest, TrainerStartRulesThatNeedOnlyTheSpecAreCheckedAtParse) {
  const std::string tiny1 = "model: {stage: 1, init_from: {preset: tiny}}\n";
  const std::string train = "train: {steps: 10}\n";
  const std::string text = "{name: t, type: text, paths: [/d/t.jsonl]}";
  struct Case {
    std::string yaml;
    std::string path;
  };
  const std::vector<Case> cases = {
      // generated data mixed with a dataset
      {tiny1 + "data: {tokenizer: /tok, groups: [{name: d, type: demo}, " + text + "]}\n" + train,
       "data.groups[0].type"},
      // datasets with neither data.tokenizer nor a checkpoint to take one from
      {tiny1 + "data: {groups: [" + text + "]}\n" + train, "data.tokenizer"},
      // generation data in a Stage 1 job
      {tiny1 + "data: {tokenizer: /tok, groups: [{name: g, type: t2i, paths: [/d]}]}\n" + train,
       "data.groups[0].type"},
      // eval images from a Stage 1 model
      {tiny1 + "data: {groups: [{name: d, type: demo}]}\n" + train + "eval: {prompts: [a cat]}\n",
       "eval.prompts"},
  };
  for (const auto& c : cases) {
    const JobSpecParse p = ParseJobSpec(c.yaml);
    EXPECT_TRUE(HasError(p, c.path)) << "expected an error at " << c.path << " for:\n"
                                     << c.yaml << "got:\n"
                                     << p.ErrorText();
  }
  // The same specs made right parse.
  EXPECT_TRUE(
      ParseJobSpec(tiny1 + "data: {tokenizer: /tok, groups: [" + text + "]}\n" + train).ok());
  EXPECT_TRUE(ParseJobSpec("model: {stage: 1, init_from: {path: /ckpt}}\ndata: {groups: [" + text +
                           "]}\n" + train)
                  .ok());
}

TEST(JobSpecTest, ReportsEveryErrorNotJustTheFirst) {
  JobSpecParse p =
      ParseJobSpec("model: {stage: 9}\ndata: {groups: []}\ntrain: {steps: -1, lr: 0}\n");
  EXPECT_TRUE(HasError(p, "model.stage"));
  EXPECT_TRUE(HasError(p, "model.init_from"));
  EXPECT_TRUE(HasError(p, "data.groups"));
  EXPECT_TRUE(HasError(p, "train.steps"));
  EXPECT_TRUE(HasError(p, "train.lr"));
}

TEST(JobSpecTest, MalformedAndOversizedDocumentsAreRefused) {
  EXPECT_FALSE(ParseJobSpec("model: [unclosed").ok());
  EXPECT_FALSE(ParseJobSpec("").ok());
  EXPECT_FALSE(ParseJobSpec("- a list\n- not a map\n").ok());
  EXPECT_FALSE(ParseJobSpec(std::string(kMaxSpecBytes + 1, 'a')).ok());
  std::string long_name = std::string(kMinimal) + "name: " + std::string(5000, 'x') + "\n";
  EXPECT_FALSE(ParseJobSpec(long_name).ok());
  EXPECT_FALSE(ReadJobSpecFile("/nonexistent/spec.yaml").ok());
}

// Random byte-level mutations of valid specs: the parser may refuse them but never throws.
TEST(JobSpecTest, MutatedSpecsNeverThrow) {
  std::mt19937 rng(1234);
  const std::string seeds[] = {kMinimal, kFull};
  const std::string alphabet = "{}[]:,-'\"\n #&*!|>%@`0123456789.eE+abcxyz";
  for (int i = 0; i < 3000; ++i) {
    std::string s = seeds[i % 2];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1 + rng() % 8);
          break;
        default:
          if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()];
      }
    }
    JobSpecParse p;
    EXPECT_NO_THROW(p = ParseJobSpec(s)) << s;
  }
}

}  // namespace
}  // namespace bagel::config
