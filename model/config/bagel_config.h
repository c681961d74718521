// BagelConfig: the model's shape, read from a Hugging Face-layout checkpoint directory
// (llm_config.json, vit_config.json, and config.json when present), as BAGEL-7B-MoT ships it.
//
// Fields the official code forces from the stage are set, not required: qk_norm, layer_module,
// the ViT's built layer count (num_hidden_layers + 1 + vit_select_layer) and its rope flag
// (BAGEL.md §1.2, §9). A missing or invalid required field throws c10::Error naming the file
// and the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bagel {

// Which decoder layer the language model is built from (llm_config.layer_module).
enum class LayerModule { kDense, kMoE, kMoT };
const char* LayerModuleName(LayerModule m);  // "Qwen2DecoderLayer", ...

struct LlmConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 32768;
  double initializer_range = 0.02;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;
  // Forced from the stage (never required in the file).
  bool qk_norm = true;
  LayerModule layer_module = LayerModule::kDense;
  bool freeze_und = false;
  // Runtime choice, not a file field: MoT hidden states in grouped order between layers
  // (model/qwen2/token_routing.h). Same values as the default sequence order.
  bool grouped_routing = false;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Every field of the file, unknown ones included, so exports write them back.
  nlohmann::json raw = nlohmann::json::object();
};

struct VitConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;  // as in the file (27 for BAGEL-7B-MoT)
  int64_t num_attention_heads = 0;
  int64_t num_channels = 3;
  int64_t patch_size = 14;
  int64_t image_size = 980;
  double layer_norm_eps = 1e-6;
  bool rope = false;  // forced false: BAGEL uses the learned position table

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t num_positions() const { return (image_size / patch_size) * (image_size / patch_size); }
  nlohmann::json raw = nlohmann::json::object();
};

struct VaeShapeConfig {
  int64_t z_channels = 16;
  int64_t downsample = 8;
};

struct BagelConfig {
  LlmConfig llm;
  VitConfig vit;
  VaeShapeConfig vae;
  bool visual_gen = false;
  bool visual_und = true;
  int64_t latent_patch_size = 2;
  int64_t max_latent_size = 64;
  int64_t vit_max_num_patch_per_side = 70;
  std::string connector_act = "gelu_pytorch_tanh";
  bool interpolate_pos = false;
  double timestep_shift = 1.0;
  int64_t vit_select_layer = -2;
  // Set by PrepareForStage: 1 or 2, and the ViT layers actually built.
  int stage = 1;
  int64_t vit_layers_built = 0;

  // Whether config.json was present (the official code never reads it; its defaults apply).
  bool has_bagel_json = false;
  nlohmann::json raw = nlohmann::json::object();

  // The stage config.json implies: 2 when visual_gen, else 1.
  int StageFromFile() const { return visual_gen ? 2 : 1; }
  int64_t patch_latent_dim() const {
    return latent_patch_size * latent_patch_size * vae.z_channels;
  }
};

// Reads the three JSON files of `dir`. Does not prepare for a stage.
BagelConfig LoadBagelConfig(const std::string& dir);

// Parses the three documents (for tests and for configs built in memory). `source` prefixes
// error messages (a directory path).
BagelConfig ParseBagelConfig(const nlohmann::json& llm, const nlohmann::json& vit,
                             const nlohmann::json* bagel, const std::string& source);

// Applies the official stage fixes before the model is built (BAGEL.md §9,
// _prepare_config_for_stage): Stage 1 dense layers and visual_gen off, Stage 2 MoT layers and
// visual_gen on; qk_norm on; the ViT trimmed to num_hidden_layers + 1 + vit_select_layer layers
// and its rope off. Throws when the trimmed layer count is not in [1, num_hidden_layers].
void PrepareConfigForStage(BagelConfig& config, int stage);

// Whether the model can be built from `config` (the seed API's supports_config): sizes
// consistent, activations supported, embeddings untied.
bool SupportsConfig(const BagelConfig& config, std::string* why = nullptr);

// The documents describing `config`, by file name: llm_config.json, vit_config.json, config.json.
std::vector<std::pair<std::string, nlohmann::json>> BagelConfigDocuments(const BagelConfig& config);

// Writes llm_config.json, vit_config.json and config.json describing `config` into `dir`.
void WriteBagelConfig(const BagelConfig& config, const std::string& dir);

}  // namespace bagel
