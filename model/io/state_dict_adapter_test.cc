#include "model/io/state_dict_adapter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/config/presets.h"
#include "model/siglip/patch_embedding.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace bagel::io {
namespace {

namespace fs = std::filesystem;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

std::shared_ptr<BagelForUnifiedMultimodal> TinyModel(
    int stage, uint64_t seed, const at::TensorOptions& options = at::kFloat) {
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, stage);
  auto m = std::make_shared<BagelForUnifiedMultimodal>(c, options);
  if (!options.device().is_meta()) m->InitializeWeights(seed);
  return m;
}

class StateDictAdapterTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::map<std::string, at::Tensor>& t) {
    const std::string p = dir_.File(name);
    WriteSafetensors(p, t);
    return p;
  }
  bagel::testing::TempDir dir_;
};

TEST(CheckpointKeyTest, ClassifiesByPattern) {
  EXPECT_EQ(ClassifyCheckpointKey("language_model.model.layers.0.mlp.up_proj.weight"),
            CheckpointKeyKind::kUnderstanding);
  EXPECT_EQ(ClassifyCheckpointKey("language_model.model.layers.0.mlp_moe_gen.up_proj.weight"),
            CheckpointKeyKind::kGeneration);
  EXPECT_EQ(ClassifyCheckpointKey("language_model.model.norm_moe_gen.weight"),
            CheckpointKeyKind::kGeneration);
  EXPECT_EQ(ClassifyCheckpointKey("time_embedder.mlp.0.weight"), CheckpointKeyKind::kGeneration);
  EXPECT_EQ(ClassifyCheckpointKey("llm2vae.bias"), CheckpointKeyKind::kGeneration);
  EXPECT_EQ(ClassifyCheckpointKey("vit_pos_embed.pos_embed"), CheckpointKeyKind::kPositionTable);
  EXPECT_EQ(ClassifyCheckpointKey("latent_pos_embed.pos_embed"), CheckpointKeyKind::kPositionTable);
  EXPECT_EQ(ClassifyCheckpointKey("connector.fc1.weight"), CheckpointKeyKind::kUnderstanding);
  EXPECT_EQ(ClassifyCheckpointKey("encoder.down.0.block.0.conv1.weight"), CheckpointKeyKind::kVae);
  EXPECT_EQ(ClassifyCheckpointKey("lm_head.weight"), CheckpointKeyKind::kUnknown);
  EXPECT_EQ(CheckpointKeyToNative("connector.fc1.weight"), "model.connector.fc1.weight");
  EXPECT_EQ(NativeKeyToCheckpoint("model.connector.fc1.weight"), "connector.fc1.weight");
  EXPECT_THROW(NativeKeyToCheckpoint("connector.fc1.weight"), c10::Error);
}

TEST_F(StateDictAdapterTest, SaveAndStrictLoadRoundTrip) {
  for (int stage : {1, 2}) {
    auto a = TinyModel(stage, 1), b = TinyModel(stage, 2);
    auto state = CheckpointStateDict(*a);
    const std::string p = Write("rt.safetensors", state);
    LoadOptions opts{stage, /*strict=*/true};
    LoadReport r = LoadCheckpoint(*b, *SafetensorsFile::Open(p), opts);
    EXPECT_TRUE(r.missing.empty() && r.unexpected.empty()) << r.Summary();
    EXPECT_EQ(r.recomputed.size(), stage == 2 ? 2u : 1u);
    for (const auto& [k, v] : CheckpointStateDict(*b)) EXPECT_TRUE(v.equal(state.at(k))) << k;
  }
}

TEST_F(StateDictAdapterTest, Stage1LoadOfAStage2CheckpointDropsGenerationKeys) {
  auto s2 = TinyModel(2, 1);
  const std::string p = Write("s2.safetensors", CheckpointStateDict(*s2));
  auto s1 = TinyModel(1, 3);
  LoadReport r = LoadCheckpoint(*s1, *SafetensorsFile::Open(p), {1, true});
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty());
  EXPECT_FALSE(r.dropped.empty());
  for (const auto& k : r.dropped) {
    EXPECT_TRUE(ClassifyCheckpointKey(k) == CheckpointKeyKind::kGeneration ||
                k == "latent_pos_embed.pos_embed")
        << k;
  }
}

TEST_F(StateDictAdapterTest, StrictFailuresNameTheKeys) {
  auto m = TinyModel(1, 1);
  auto state = CheckpointStateDict(*m);
  // Removed.
  auto removed = state;
  removed.erase("connector.fc2.bias");
  std::string err = ErrorOf([&] {
    LoadCheckpoint(*TinyModel(1, 2), *SafetensorsFile::Open(Write("r.safetensors", removed)),
                   {1, true});
  });
  EXPECT_NE(err.find("missing key(s) [connector.fc2.bias]"), std::string::npos) << err;
  // Non-strict: reported, not raised.
  LoadReport r = LoadCheckpoint(
      *TinyModel(1, 2), *SafetensorsFile::Open(Write("r2.safetensors", removed)), {1, false});
  EXPECT_EQ(r.missing, std::vector<std::string>{"connector.fc2.bias"});
  // Renamed.
  auto renamed = state;
  renamed["connector.fc3.bias"] = renamed["connector.fc2.bias"];
  renamed.erase("connector.fc2.bias");
  err = ErrorOf([&] {
    LoadCheckpoint(*TinyModel(1, 2), *SafetensorsFile::Open(Write("n.safetensors", renamed)),
                   {1, true});
  });
  EXPECT_NE(err.find("unexpected key(s) [connector.fc3.bias]"), std::string::npos) << err;
  EXPECT_NE(err.find("connector.fc2.bias"), std::string::npos) << err;
  // Reshaped: an error even when not strict.
  auto reshaped = state;
  reshaped["connector.fc2.bias"] = at::zeros({3});
  err = ErrorOf([&] {
    LoadCheckpoint(*TinyModel(1, 2), *SafetensorsFile::Open(Write("s.safetensors", reshaped)),
                   {1, false});
  });
  EXPECT_NE(err.find("'connector.fc2.bias' has shape [3] but the model expects [64]"),
            std::string::npos)
      << err;
  // A layer the model does not have.
  auto extra = state;
  extra["language_model.model.layers.7.mlp.up_proj.weight"] = at::zeros({1});
  err = ErrorOf([&] {
    LoadCheckpoint(*TinyModel(1, 2), *SafetensorsFile::Open(Write("e.safetensors", extra)),
                   {1, true});
  });
  EXPECT_NE(err.find("layers.7.mlp.up_proj.weight"), std::string::npos) << err;
}

TEST_F(StateDictAdapterTest, ConvPatchEmbeddingIsConvertedOnLoad) {
  auto m = TinyModel(1, 1);
  auto state = CheckpointStateDict(*m);
  const std::string key = "vit_model.vision_model.embeddings.patch_embedding.weight";
  at::Tensor conv = at::randn({32, 3, 14, 14});
  state[key] = conv;
  auto fresh = TinyModel(1, 5);
  LoadReport r =
      LoadCheckpoint(*fresh, *SafetensorsFile::Open(Write("c.safetensors", state)), {1, true});
  EXPECT_EQ(r.converted, std::vector<std::string>{key});
  EXPECT_TRUE(fresh->model->vit_model->vision_model->embeddings->patch_embedding->weight.equal(
      ConvPatchWeightToLinear(conv)));
}

// The real BAGEL-7B-MoT schema (1,223 tensors, 14.6B parameters) against a model on the meta
// device: accepted in strict mode without allocating anything; a removed, renamed or reshaped
// key is named in the error.
class RealSchemaTest : public StateDictAdapterTest {
 protected:
  std::vector<std::pair<std::string, std::vector<int64_t>>> Schema() {
    const fs::path path = bagel::testing::GoldenDir() / "schema/bagel-7b-mot.json";
    if (!fs::exists(path)) return {};
    nlohmann::json doc = nlohmann::json::parse(std::ifstream(path));
    std::vector<std::pair<std::string, std::vector<int64_t>>> out;
    for (const auto& [k, v] : doc["ema.safetensors"].items())
      out.emplace_back(k, v.get<std::vector<int64_t>>());
    EXPECT_EQ(out.size(), doc["counts"]["ema_tensors"].get<size_t>());
    return out;
  }
  std::shared_ptr<BagelForUnifiedMultimodal> MetaModel(int stage) {
    BagelConfig c = PresetConfig("bagel-7b");
    PrepareConfigForStage(c, stage);
    return std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().device(at::kMeta));
  }
  std::string Load(int stage,
                   const std::vector<std::pair<std::string, std::vector<int64_t>>>& entries,
                   LoadReport* report = nullptr) {
    const std::string p = dir_.File("ema.safetensors");
    WriteSparseSafetensorsForTest(p, entries, at::kBFloat16);
    return ErrorOf([&] {
      LoadReport r =
          LoadCheckpoint(*MetaModel(stage), *SafetensorsFile::Open(p), {stage, true, true});
      if (report) *report = r;
    });
  }
};

TEST_F(RealSchemaTest, AcceptedInStrictModeForBothStages) {
  auto schema = Schema();
  if (schema.empty()) GTEST_SKIP() << "tests/golden/schema not present";
  LoadReport r2;
  EXPECT_EQ(Load(2, schema, &r2), "");
  EXPECT_EQ(r2.loaded.size() + r2.recomputed.size(), 1223u);
  int64_t params = 0;
  for (const auto& p : MetaModel(2)->parameters()) params += p.numel();
  EXPECT_EQ(params, 14607260128LL);
  LoadReport r1;
  EXPECT_EQ(Load(1, schema, &r1), "");
  EXPECT_GT(r1.dropped.size(), 0u);
}

TEST_F(RealSchemaTest, RemovedRenamedOrReshapedKeysAreNamed) {
  auto schema = Schema();
  if (schema.empty()) GTEST_SKIP() << "tests/golden/schema not present";
  const std::string victim = "language_model.model.layers.13.mlp.up_proj.weight";
  auto removed = schema;
  std::erase_if(removed, [&](const auto& e) { return e.first == victim; });
  std::string err = Load(2, removed);
  EXPECT_NE(err.find("missing key(s) [" + victim + "]"), std::string::npos) << err;
  auto renamed = schema;
  for (auto& e : renamed)
    if (e.first == victim) e.first = victim + "_renamed";
  err = Load(2, renamed);
  EXPECT_NE(err.find(victim + "_renamed"), std::string::npos) << err;
  auto reshaped = schema;
  for (auto& e : reshaped)
    if (e.first == victim) e.second = {18944, 3583};
  err = Load(2, reshaped);
  EXPECT_NE(err.find("'" + victim + "' has shape [18944, 3583]"), std::string::npos) << err;
}

}  // namespace
}  // namespace bagel::io
