#include "model/lora/lora_adapters.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"
#include "model/nn/linear.h"
#include "model/testing/tiny_model.h"
#include "testing/temp_dir.h"

namespace bagel::lora {
namespace {

namespace fs = std::filesystem;

// Gives every adapter a non-zero value (B starts at zero, which would hide a wrong merge).
void RandomizeAdapters(BagelForUnifiedMultimodal& model, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& item : model.named_parameters()) {
    if (IsLoraKey(item.key())) item.value().normal_(0.0, 0.1, gen);
  }
}

TEST(LoraAdaptersTest, OneLinearEqualsTheHandWrittenLowRankUpdate) {
  nn::Linear linear(6, 5, /*bias=*/true, at::TensorOptions().dtype(at::kDouble));
  at::Generator gen = at::detail::createCPUGenerator(3);
  {
    at::NoGradGuard no_grad;
    linear.weight.normal_(0, 1, gen);
    linear.bias.normal_(0, 1, gen);
  }
  const int64_t r = 3;
  const double alpha = 7;
  linear.AddLoraAdapter(r, alpha, /*dropout=*/0);
  {
    at::NoGradGuard no_grad;
    linear.lora_A.normal_(0, 1, gen);
    linear.lora_B.normal_(0, 1, gen);
  }
  const at::Tensor x = at::randn({4, 6}, gen, at::kDouble);
  // y = x W^T + b + (alpha / r) x A^T B^T, element by element.
  at::Tensor expected = at::empty({4, 5}, at::kDouble);
  auto W = linear.weight.accessor<double, 2>(), A = linear.lora_A.accessor<double, 2>(),
       B = linear.lora_B.accessor<double, 2>();
  auto X = x.accessor<double, 2>();
  for (int i = 0; i < 4; ++i) {
    for (int o = 0; o < 5; ++o) {
      double v = linear.bias[o].item<double>();
      for (int k = 0; k < 6; ++k) v += W[o][k] * X[i][k];
      for (int j = 0; j < r; ++j) {
        double ax = 0;
        for (int k = 0; k < 6; ++k) ax += A[j][k] * X[i][k];
        v += alpha / r * B[o][j] * ax;
      }
      expected[i][o] = v;
    }
  }
  EXPECT_TRUE(at::allclose(linear.Forward(x), expected, 1e-12, 1e-12));
  EXPECT_DOUBLE_EQ(linear.lora_scale(), alpha / r);
  EXPECT_TRUE(linear.lora_A.requires_grad());
  EXPECT_TRUE(linear.lora_B.requires_grad());
}

TEST(LoraAdaptersTest, DropoutOnlyInTrainingMode) {
  nn::Linear linear(8, 8, /*bias=*/false, at::TensorOptions().dtype(at::kFloat));
  linear.AddLoraAdapter(2, 4, /*dropout=*/0.5);
  {
    at::NoGradGuard no_grad;
    linear.weight.zero_();
    linear.lora_A.fill_(1);
    linear.lora_B.fill_(1);
  }
  const at::Tensor x = at::ones({64, 8});
  at::manual_seed(1);
  const at::Tensor train = linear.Forward(x);
  EXPECT_FALSE(at::allclose(train, train[0].expand_as(train)));  // rows drew other masks
  linear.eval();
  EXPECT_TRUE(linear.Forward(x).eq(2.0 * 2 * 8).all().item<bool>());  // (4/2) * B A x, no drop
}

TEST(LoraAdaptersTest, DefaultTargetsCoverBothExpertsAndFreezeEverythingElse) {
  auto model = testing::Tiny(2);
  const auto modules = AddLoraAdapters(*model, {}, /*seed=*/5);
  const auto& c = model->config();
  // q/k/v/o + gate/up/down, times two experts, per layer.
  EXPECT_EQ(modules.size(), static_cast<size_t>(c.llm.num_hidden_layers * 7 * 2));
  EXPECT_TRUE(std::count(modules.begin(), modules.end(),
                         "language_model.model.layers.0.self_attn.q_proj_moe_gen"));
  EXPECT_TRUE(std::count(modules.begin(), modules.end(),
                         "language_model.model.layers.1.mlp_moe_gen.down_proj"));
  int adapters = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string key = io::NativeKeyToCheckpoint(item.key());
    EXPECT_EQ(item.value().requires_grad(), IsLoraKey(key)) << key;
    adapters += IsLoraKey(key);
  }
  EXPECT_EQ(adapters, static_cast<int>(2 * modules.size()));
  // B = 0: the adapted model computes what the base computes.
  auto base = testing::Tiny(2);
  at::Generator g1 = at::detail::createCPUGenerator(9), g2 = at::detail::createCPUGenerator(9);
  const auto a = model->Forward(testing::HandBatch(true, g1));
  const auto b = base->Forward(testing::HandBatch(true, g2));
  EXPECT_TRUE(a.ce.equal(b.ce));
  EXPECT_TRUE(a.mse.equal(b.mse));
}

TEST(LoraAdaptersTest, InitialValuesAreSeededPerKeyAsPeftInitialises) {
  const std::string a = "language_model.model.layers.0.mlp.up_proj.lora_A";
  const at::Tensor v = LoraInitialValue(a, {4, 100}, 1);
  EXPECT_TRUE(v.equal(LoraInitialValue(a, {4, 100}, 1)));
  EXPECT_FALSE(v.equal(LoraInitialValue(a, {4, 100}, 2)));
  EXPECT_FALSE(v.equal(LoraInitialValue("x.lora_A", {4, 100}, 1)));
  EXPECT_LE(v.abs().max().item<double>(), 0.1);  // U(+-1/sqrt(in))
  EXPECT_GT(v.abs().max().item<double>(), 0.09);
  EXPECT_TRUE(LoraInitialValue("x.lora_B", {5, 4}, 1).eq(0).all().item<bool>());
  EXPECT_THROW(LoraInitialValue("x.weight", {5, 4}, 1), c10::Error);
}

TEST(LoraAdaptersTest, TargetsAreRegexesAndBadOnesAreNamed) {
  auto model = testing::Tiny(1);
  LoraOptions o;
  // A search, not a full match: the ViT's layer 1 matches too.
  o.targets = {R"(layers\.1\.self_attn\.v_proj$)"};
  const auto modules = AddLoraAdapters(*model, o, 1);
  EXPECT_EQ(modules,
            (std::vector<std::string>{"language_model.model.layers.1.self_attn.v_proj",
                                      "vit_model.vision_model.encoder.layers.1.self_attn.v_proj"}));
  o.targets = {"no_such_module"};
  EXPECT_THROW(AddLoraAdapters(*testing::Tiny(1), o, 1), c10::Error);
  o.targets = {"(unclosed"};
  EXPECT_THROW(AddLoraAdapters(*testing::Tiny(1), o, 1), c10::Error);
}

// The merged weights (W + scale B A, adapter keys gone) loaded into a plain model compute what
// the adapted model computes.
TEST(LoraAdaptersTest, MergedWeightsEqualTheAdaptedForward) {
  auto adapted = testing::TinyTrained(2);
  LoraOptions o;
  o.rank = 4;
  o.alpha = 8;
  AddLoraAdapters(*adapted, o, 1);
  RandomizeAdapters(*adapted, 2);
  auto merged = MergeLoraWeights(io::CheckpointStateDict(*adapted), o.alpha / o.rank);
  for (const auto& [key, value] : merged) EXPECT_FALSE(IsLoraKey(key)) << key;
  auto plain = testing::Tiny(2);
  {
    at::NoGradGuard no_grad;
    for (auto& item : plain->named_parameters())
      item.value().copy_(merged.at(io::NativeKeyToCheckpoint(item.key())));
  }
  at::Generator g1 = at::detail::createCPUGenerator(4), g2 = at::detail::createCPUGenerator(4);
  const auto a = adapted->Forward(testing::HandBatch(true, g1));
  const auto b = plain->Forward(testing::HandBatch(true, g2));
  EXPECT_TRUE(at::allclose(a.ce, b.ce, 1e-5, 1e-6)) << a.ce << b.ce;
  EXPECT_TRUE(at::allclose(a.mse, b.mse, 1e-5, 1e-6));
}

// PEFT's layout written and read back: adapter_config.json with r / lora_alpha /
// target_modules, adapter_model.safetensors with base_model.model.<module>.lora_A.weight; merging
// it into the base equals the adapted model.
TEST(LoraAdaptersTest, PeftAdapterRoundTripsIntoTheBase) {
  const bagel::testing::TempDir tmp;
  auto adapted = testing::TinyTrained(2);
  LoraOptions o;
  o.rank = 2;
  o.alpha = 6;
  const auto modules = AddLoraAdapters(*adapted, o, 1);
  RandomizeAdapters(*adapted, 3);
  const auto weights = io::CheckpointStateDict(*adapted);
  WritePeftAdapter(tmp.path().string(), weights, o, modules, "/base");
  std::ifstream in(tmp.path() / "adapter_config.json");
  const auto config = nlohmann::json::parse(in);
  EXPECT_EQ(config.at("peft_type"), "LORA");
  EXPECT_EQ(config.at("r"), 2);
  EXPECT_DOUBLE_EQ(config.at("lora_alpha").get<double>(), 6);
  EXPECT_EQ(config.at("target_modules").size(), modules.size());
  auto file = io::SafetensorsFile::Open((tmp.path() / "adapter_model.safetensors").string());
  EXPECT_TRUE(file->Contains("base_model.model." + modules[0] + ".lora_A.weight"));
  EXPECT_EQ(file->entries().size(), 2 * modules.size());

  auto base = testing::TinyTrained(2);
  EXPECT_EQ(MergePeftAdapterInto(tmp.path().string(), *base), static_cast<int>(modules.size()));
  at::Generator g1 = at::detail::createCPUGenerator(4), g2 = at::detail::createCPUGenerator(4);
  const auto a = adapted->Forward(testing::HandBatch(true, g1));
  const auto b = base->Forward(testing::HandBatch(true, g2));
  EXPECT_TRUE(at::allclose(a.ce, b.ce, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(a.mse, b.mse, 1e-5, 1e-6));
  // An adapter for another model is refused naming the module.
  auto stage1 = testing::Tiny(1);
  try {
    MergePeftAdapterInto(tmp.path().string(), *stage1);
    FAIL() << "a Stage 2 adapter merged into a Stage 1 model";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("_moe_gen"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bagel::lora
