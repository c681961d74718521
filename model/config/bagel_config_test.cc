#include "model/config/bagel_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/config/presets.h"
#include "model/config/stage.h"
#include "testing/temp_dir.h"

namespace bagel {
namespace {

using nlohmann::json;

// BAGEL-7B-MoT's configs (BAGEL.md §1.2): Qwen2.5-7B-Instruct and SigLIP so400m, no config.json.
json Real7bLlm() {
  return json{{"architectures", {"Qwen2ForCausalLM"}},
              {"attention_dropout", 0.0},
              {"bos_token_id", 151643},
              {"eos_token_id", 151645},
              {"hidden_act", "silu"},
              {"hidden_size", 3584},
              {"initializer_range", 0.02},
              {"intermediate_size", 18944},
              {"max_position_embeddings", 32768},
              {"max_window_layers", 28},
              {"model_type", "qwen2"},
              {"num_attention_heads", 28},
              {"num_hidden_layers", 28},
              {"num_key_value_heads", 4},
              {"rms_norm_eps", 1e-06},
              {"rope_theta", 1000000.0},
              {"sliding_window", 131072},
              {"tie_word_embeddings", false},
              {"torch_dtype", "bfloat16"},
              {"transformers_version", "4.43.1"},
              {"use_cache", true},
              {"use_sliding_window", false},
              {"vocab_size", 152064}};
}
json Real7bVit() {
  return json{{"hidden_size", 1152},       {"image_size", 980},
              {"intermediate_size", 4304}, {"model_type", "siglip_vision_model"},
              {"num_attention_heads", 16}, {"num_hidden_layers", 27},
              {"patch_size", 14}};
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

TEST(BagelConfigTest, RealBagel7bConfigsLoadAndPrepare) {
  BagelConfig c = ParseBagelConfig(Real7bLlm(), Real7bVit(), nullptr, "/ckpt");
  EXPECT_EQ(c.llm.vocab_size, 152064);
  EXPECT_EQ(c.llm.head_dim(), 128);
  EXPECT_FALSE(c.llm.pad_token_id.has_value());
  EXPECT_EQ(c.max_latent_size, 64);  // app.py's value when config.json is absent
  EXPECT_TRUE(c.visual_gen);
  PrepareConfigForStage(c, 2);
  EXPECT_EQ(c.vit_layers_built, 26);
  EXPECT_EQ(c.llm.layer_module, LayerModule::kMoT);
  EXPECT_TRUE(c.llm.qk_norm);
  PrepareConfigForStage(c, 1);
  EXPECT_EQ(c.llm.layer_module, LayerModule::kDense);
  EXPECT_FALSE(c.visual_gen);
  EXPECT_TRUE(SupportsConfig(c));
}

TEST(BagelConfigTest, MissingRequiredFieldNamesFileAndField) {
  json llm = Real7bLlm();
  llm.erase("hidden_size");
  std::string err = ErrorOf([&] { ParseBagelConfig(llm, Real7bVit(), nullptr, "/ckpt"); });
  EXPECT_NE(err.find("/ckpt/llm_config.json"), std::string::npos) << err;
  EXPECT_NE(err.find("'hidden_size'"), std::string::npos) << err;
  json vit = Real7bVit();
  vit.erase("patch_size");
  err = ErrorOf([&] { ParseBagelConfig(Real7bLlm(), vit, nullptr, "/ckpt"); });
  EXPECT_NE(err.find("vit_config.json"), std::string::npos) << err;
  EXPECT_NE(err.find("'patch_size'"), std::string::npos) << err;
}

TEST(BagelConfigTest, InvalidFieldsAreRefusedWithTheirValue) {
  struct Case {
    const char* field;
    json value;
    const char* expect;
  };
  for (const Case& c :
       {Case{"num_attention_heads", -4, "positive integer"},
        Case{"vocab_size", "many", "positive integer"}, Case{"tie_word_embeddings", true, "untied"},
        Case{"hidden_act", "gelu", "silu"},
        Case{"rope_scaling", json{{"type", "linear"}}, "rope_scaling"},
        Case{"num_key_value_heads", 5, "multiple"}}) {
    json llm = Real7bLlm();
    llm[c.field] = c.value;
    std::string err = ErrorOf([&] { ParseBagelConfig(llm, Real7bVit(), nullptr, "d"); });
    EXPECT_NE(err.find(c.field), std::string::npos) << c.field << ": " << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.field << ": " << err;
  }
  json bagel = {{"connector_act", "relu"}};
  std::string err = ErrorOf([&] { ParseBagelConfig(Real7bLlm(), Real7bVit(), &bagel, "d"); });
  EXPECT_NE(err.find("config.json"), std::string::npos) << err;
  EXPECT_NE(err.find("connector_act"), std::string::npos) << err;
}

TEST(BagelConfigTest, StageForcedFieldsAreNotRequired) {
  // A real checkpoint has neither qk_norm nor layer_module; the golden ones carry them.
  json llm = Real7bLlm();
  llm["qk_norm"] = false;
  llm["layer_module"] = "Qwen2DecoderLayer";
  json vit = Real7bVit();
  vit["rope"] = true;
  BagelConfig c = ParseBagelConfig(llm, vit, nullptr, "d");
  PrepareConfigForStage(c, 2);
  EXPECT_TRUE(c.llm.qk_norm);
  EXPECT_EQ(c.llm.layer_module, LayerModule::kMoT);
  EXPECT_FALSE(c.vit.rope);
}

TEST(BagelConfigTest, TrimmedVitMustKeepALayer) {
  json vit = Real7bVit();
  vit["num_hidden_layers"] = 1;  // 1 + 1 - 2 = 0 layers
  BagelConfig c = ParseBagelConfig(Real7bLlm(), vit, nullptr, "d");
  EXPECT_THROW(PrepareConfigForStage(c, 1), c10::Error);
}

TEST(BagelConfigTest, WriteThenLoadRoundTrips) {
  const bagel::testing::TempDir tmp;
  const auto dir = tmp.path() / "config";  // not there yet: WriteBagelConfig makes it
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, 2);
  WriteBagelConfig(c, dir.string());
  BagelConfig back = LoadBagelConfig(dir.string());
  EXPECT_EQ(back.llm.hidden_size, 64);
  EXPECT_EQ(back.llm.pad_token_id, std::optional<int64_t>(0));
  EXPECT_EQ(back.vit.num_hidden_layers, 3);
  EXPECT_EQ(back.max_latent_size, 8);
  EXPECT_EQ(back.StageFromFile(), 2);
}

TEST(BagelConfigTest, LoadNamesAMissingFile) {
  const bagel::testing::TempDir tmp;
  const auto& dir = tmp.path();
  std::string err = ErrorOf([&] { LoadBagelConfig(dir.string()); });
  EXPECT_NE(err.find("llm_config.json"), std::string::npos) << err;
  std::ofstream(dir / "llm_config.json") << "{not json";
  std::ofstream(dir / "vit_config.json") << "{}";
  err = ErrorOf([&] { LoadBagelConfig(dir.string()); });
  EXPECT_NE(err.find("llm_config.json: not valid JSON"), std::string::npos) << err;
}

TEST(StageTest, NormalisesTheFourSpellings) {
  EXPECT_EQ(NormalizeStage(1), 1);
  EXPECT_EQ(NormalizeStage(2), 2);
  EXPECT_EQ(NormalizeStage(std::string("stage1")), 1);
  EXPECT_EQ(NormalizeStage(std::string("stage2")), 2);
  EXPECT_EQ(ParseStage("2"), 2);
  for (const StageValue& bad : {StageValue(0), StageValue(3), StageValue(std::string("Stage1")),
                                StageValue(std::string("stage3")), StageValue(std::string(""))}) {
    EXPECT_THROW(NormalizeStage(bad), c10::Error);
  }
  std::string err = ErrorOf([] { NormalizeStage(std::string("three")); });
  EXPECT_NE(err.find("three"), std::string::npos);
}

}  // namespace
}  // namespace bagel
