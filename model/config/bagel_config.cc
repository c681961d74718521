#include "model/config/bagel_config.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>

namespace bagel {
namespace {

namespace fs = std::filesystem;

// Reads typed fields of one JSON document, naming the file and field in every error.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& doc, std::string file) : doc_(doc), file_(std::move(file)) {
    TORCH_CHECK(doc_.is_object(), file_, ": expected a JSON object");
  }

  bool Has(const char* field) const { return doc_.contains(field) && !doc_[field].is_null(); }

  int64_t RequiredPositiveInt(const char* field) const {
    TORCH_CHECK(Has(field), file_, ": required field '", field,
                "' is missing (expected a positive integer)");
    return PositiveInt(field);
  }
  int64_t OptionalPositiveInt(const char* field, int64_t fallback) const {
    return Has(field) ? PositiveInt(field) : fallback;
  }
  int64_t OptionalInt(const char* field, int64_t fallback) const {
    if (!Has(field)) return fallback;
    const auto& v = doc_[field];
    TORCH_CHECK(v.is_number_integer(), file_, ": field '", field, "' must be an integer, got ",
                v.dump());
    return v.get<int64_t>();
  }
  std::optional<int64_t> OptionalId(const char* field) const {
    if (!Has(field)) return std::nullopt;
    const auto& v = doc_[field];
    TORCH_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, file_, ": field '", field,
                "' must be a non-negative integer or null, got ", v.dump());
    return v.get<int64_t>();
  }
  double OptionalPositiveNumber(const char* field, double fallback) const {
    if (!Has(field)) return fallback;
    const auto& v = doc_[field];
    TORCH_CHECK(v.is_number() && v.get<double>() > 0, file_, ": field '", field,
                "' must be a positive number, got ", v.dump());
    return v.get<double>();
  }
  bool OptionalBool(const char* field, bool fallback) const {
    if (!Has(field)) return fallback;
    const auto& v = doc_[field];
    TORCH_CHECK(v.is_boolean(), file_, ": field '", field, "' must be true or false, got ",
                v.dump());
    return v.get<bool>();
  }
  std::string OptionalString(const char* field, const std::string& fallback) const {
    if (!Has(field)) return fallback;
    const auto& v = doc_[field];
    TORCH_CHECK(v.is_string(), file_, ": field '", field, "' must be a string, got ", v.dump());
    return v.get<std::string>();
  }
  void ExpectString(const char* field, const std::string& fallback,
                    const std::string& wanted) const {
    const std::string got = OptionalString(field, fallback);
    TORCH_CHECK(got == wanted, file_, ": field '", field, "' is \"", got, "\"; only \"", wanted,
                "\" is supported");
  }
  const nlohmann::json& operator[](const char* field) const { return doc_[field]; }
  const std::string& file() const { return file_; }

 private:
  int64_t PositiveInt(const char* field) const {
    const auto& v = doc_[field];
    TORCH_CHECK(v.is_number_integer() && v.get<int64_t>() > 0, file_, ": field '", field,
                "' must be a positive integer, got ", v.dump());
    return v.get<int64_t>();
  }
  const nlohmann::json& doc_;
  std::string file_;
};

nlohmann::json ReadJsonFile(const fs::path& path) {
  std::ifstream in(path);
  TORCH_CHECK(in, path.string(), ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path.string(), ": not valid JSON: ", e.what());
  }
}

LlmConfig ParseLlm(const nlohmann::json& doc, const std::string& file) {
  FieldReader r(doc, file);
  LlmConfig c;
  c.vocab_size = r.RequiredPositiveInt("vocab_size");
  c.hidden_size = r.RequiredPositiveInt("hidden_size");
  c.intermediate_size = r.RequiredPositiveInt("intermediate_size");
  c.num_hidden_layers = r.RequiredPositiveInt("num_hidden_layers");
  c.num_attention_heads = r.RequiredPositiveInt("num_attention_heads");
  c.num_key_value_heads = r.OptionalPositiveInt("num_key_value_heads", c.num_attention_heads);
  c.rope_theta = r.OptionalPositiveNumber("rope_theta", 10000.0);
  c.rms_norm_eps = r.OptionalPositiveNumber("rms_norm_eps", 1e-6);
  c.max_position_embeddings = r.OptionalPositiveInt("max_position_embeddings", 32768);
  c.initializer_range = r.OptionalPositiveNumber("initializer_range", 0.02);
  c.pad_token_id = r.OptionalId("pad_token_id");
  c.bos_token_id = r.OptionalId("bos_token_id");
  c.eos_token_id = r.OptionalId("eos_token_id");
  c.freeze_und = r.OptionalBool("freeze_und", false);
  r.ExpectString("hidden_act", "silu", "silu");
  TORCH_CHECK(!r.OptionalBool("tie_word_embeddings", false), file,
              ": field 'tie_word_embeddings' is true; BAGEL's lm_head is untied (expected false)");
  TORCH_CHECK(!r.Has("rope_scaling"), file, ": field 'rope_scaling' is ", r["rope_scaling"].dump(),
              "; only plain RoPE (null) is supported");
  TORCH_CHECK(!r.OptionalBool("use_sliding_window", false), file,
              ": field 'use_sliding_window' is true; sliding-window attention is not supported");
  TORCH_CHECK(c.hidden_size % c.num_attention_heads == 0, file, ": 'hidden_size' (", c.hidden_size,
              ") must be a multiple of 'num_attention_heads' (", c.num_attention_heads, ")");
  TORCH_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, file, ": 'num_attention_heads' (",
              c.num_attention_heads, ") must be a multiple of 'num_key_value_heads' (",
              c.num_key_value_heads, ")");
  TORCH_CHECK(c.head_dim() % 2 == 0, file, ": head dim ", c.head_dim(), " must be even for RoPE");
  if (c.pad_token_id) {
    TORCH_CHECK(*c.pad_token_id < c.vocab_size, file, ": 'pad_token_id' ", *c.pad_token_id,
                " is not below 'vocab_size' ", c.vocab_size);
  }
  c.raw = doc;
  return c;
}

VitConfig ParseVit(const nlohmann::json& doc, const std::string& file) {
  FieldReader r(doc, file);
  VitConfig c;
  c.hidden_size = r.RequiredPositiveInt("hidden_size");
  c.intermediate_size = r.RequiredPositiveInt("intermediate_size");
  c.num_hidden_layers = r.RequiredPositiveInt("num_hidden_layers");
  c.num_attention_heads = r.RequiredPositiveInt("num_attention_heads");
  c.patch_size = r.RequiredPositiveInt("patch_size");
  c.image_size = r.RequiredPositiveInt("image_size");
  c.num_channels = r.OptionalPositiveInt("num_channels", 3);
  c.layer_norm_eps = r.OptionalPositiveNumber("layer_norm_eps", 1e-6);
  r.ExpectString("hidden_act", "gelu_pytorch_tanh", "gelu_pytorch_tanh");
  c.rope = false;  // forced (vit_rope=False); the file's value is ignored as the official code does
  TORCH_CHECK(c.hidden_size % c.num_attention_heads == 0, file, ": 'hidden_size' (", c.hidden_size,
              ") must be a multiple of 'num_attention_heads' (", c.num_attention_heads, ")");
  TORCH_CHECK(c.image_size >= c.patch_size, file, ": 'image_size' (", c.image_size,
              ") must be at least 'patch_size' (", c.patch_size, ")");
  c.raw = doc;
  return c;
}

}  // namespace

const char* LayerModuleName(LayerModule m) {
  switch (m) {
    case LayerModule::kDense:
      return "Qwen2DecoderLayer";
    case LayerModule::kMoE:
      return "Qwen2MoEDecoderLayer";
    case LayerModule::kMoT:
      return "Qwen2MoTDecoderLayer";
  }
  return "?";
}

BagelConfig ParseBagelConfig(const nlohmann::json& llm, const nlohmann::json& vit,
                             const nlohmann::json* bagel, const std::string& source) {
  const std::string prefix = source.empty() ? "" : source + "/";
  BagelConfig c;
  c.llm = ParseLlm(llm, prefix + "llm_config.json");
  c.vit = ParseVit(vit, prefix + "vit_config.json");
  c.visual_gen = true;  // BagelConfig's class default, used when config.json does not say
  if (bagel != nullptr) {
    const std::string file = prefix + "config.json";
    FieldReader r(*bagel, file);
    c.has_bagel_json = true;
    c.visual_gen = r.OptionalBool("visual_gen", true);
    c.visual_und = r.OptionalBool("visual_und", true);
    c.latent_patch_size = r.OptionalPositiveInt("latent_patch_size", 2);
    c.max_latent_size = r.OptionalPositiveInt("max_latent_size", 64);
    c.vit_max_num_patch_per_side = r.OptionalPositiveInt("vit_max_num_patch_per_side", 70);
    c.connector_act = r.OptionalString("connector_act", "gelu_pytorch_tanh");
    c.interpolate_pos = r.OptionalBool("interpolate_pos", false);
    c.timestep_shift = r.OptionalPositiveNumber("timestep_shift", 1.0);
    c.vit_select_layer = r.OptionalInt("vit_select_layer", -2);
    if (r.Has("vae_config")) {
      FieldReader vae(r["vae_config"], file + " vae_config");
      c.vae.z_channels = vae.OptionalPositiveInt("z_channels", 16);
      c.vae.downsample = vae.OptionalPositiveInt("downsample", 8);
    }
    TORCH_CHECK(c.connector_act == "gelu_pytorch_tanh", file, ": field 'connector_act' is \"",
                c.connector_act, "\"; only \"gelu_pytorch_tanh\" is supported");
    c.raw = *bagel;
  }
  const int64_t side = c.vit.image_size / c.vit.patch_size;
  TORCH_CHECK(c.vit_max_num_patch_per_side <= side, prefix,
              "config.json: "
              "'vit_max_num_patch_per_side' (",
              c.vit_max_num_patch_per_side,
              ") exceeds the ViT position table side image_size/patch_size = ", side);
  return c;
}

BagelConfig LoadBagelConfig(const std::string& dir) {
  const fs::path root(dir);
  TORCH_CHECK(fs::is_directory(root), dir, ": not a checkpoint directory");
  for (const char* required : {"llm_config.json", "vit_config.json"}) {
    TORCH_CHECK(fs::exists(root / required), dir, ": missing ", required);
  }
  const nlohmann::json llm = ReadJsonFile(root / "llm_config.json");
  const nlohmann::json vit = ReadJsonFile(root / "vit_config.json");
  std::optional<nlohmann::json> bagel;
  if (fs::exists(root / "config.json")) bagel = ReadJsonFile(root / "config.json");
  return ParseBagelConfig(llm, vit, bagel ? &*bagel : nullptr, dir);
}

void PrepareConfigForStage(BagelConfig& config, int stage) {
  TORCH_CHECK(stage == 1 || stage == 2, "stage must be 1 or 2, got ", stage);
  config.stage = stage;
  config.visual_gen = stage == 2;
  config.llm.layer_module = stage == 2 ? LayerModule::kMoT : LayerModule::kDense;
  config.llm.qk_norm = true;
  config.vit.rope = false;
  const int64_t layers = config.vit.num_hidden_layers + 1 + config.vit_select_layer;
  TORCH_CHECK(layers >= 1 && layers <= config.vit.num_hidden_layers, "vit_select_layer ",
              config.vit_select_layer, " with vit num_hidden_layers ", config.vit.num_hidden_layers,
              " leaves ", layers, " ViT layers (expected 1..", config.vit.num_hidden_layers, ")");
  config.vit_layers_built = layers;
}

bool SupportsConfig(const BagelConfig& config, std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  const auto& l = config.llm;
  if (l.vocab_size <= 0 || l.hidden_size <= 0 || l.num_attention_heads <= 0 ||
      l.num_key_value_heads <= 0 || l.num_hidden_layers <= 0 || l.intermediate_size <= 0)
    return fail("language model sizes must be positive");
  if (l.hidden_size % l.num_attention_heads != 0) return fail("hidden_size % heads != 0");
  if (l.num_attention_heads % l.num_key_value_heads != 0) return fail("heads % kv heads != 0");
  if (l.head_dim() % 2 != 0) return fail("head dim must be even");
  const auto& v = config.vit;
  if (config.visual_und) {
    if (v.hidden_size <= 0 || v.num_attention_heads <= 0 || v.hidden_size % v.num_attention_heads)
      return fail("ViT hidden_size must be a positive multiple of its heads");
    if (config.vit_max_num_patch_per_side > v.image_size / v.patch_size)
      return fail("vit_max_num_patch_per_side exceeds the ViT position table");
  }
  if (config.connector_act != "gelu_pytorch_tanh") return fail("connector_act unsupported");
  if (config.latent_patch_size <= 0 || config.max_latent_size <= 0) return fail("latent sizes");
  return true;
}

std::vector<std::pair<std::string, nlohmann::json>> BagelConfigDocuments(
    const BagelConfig& config) {
  nlohmann::json llm = config.llm.raw.is_object() ? config.llm.raw : nlohmann::json::object();
  const auto& l = config.llm;
  llm["model_type"] = "qwen2";
  llm["vocab_size"] = l.vocab_size;
  llm["hidden_size"] = l.hidden_size;
  llm["intermediate_size"] = l.intermediate_size;
  llm["num_hidden_layers"] = l.num_hidden_layers;
  llm["num_attention_heads"] = l.num_attention_heads;
  llm["num_key_value_heads"] = l.num_key_value_heads;
  llm["rope_theta"] = l.rope_theta;
  llm["rms_norm_eps"] = l.rms_norm_eps;
  llm["max_position_embeddings"] = l.max_position_embeddings;
  llm["initializer_range"] = l.initializer_range;
  llm["hidden_act"] = "silu";
  llm["tie_word_embeddings"] = false;
  llm["rope_scaling"] = nullptr;
  llm["pad_token_id"] = l.pad_token_id ? nlohmann::json(*l.pad_token_id) : nlohmann::json();
  llm["bos_token_id"] = l.bos_token_id ? nlohmann::json(*l.bos_token_id) : nlohmann::json();
  llm["eos_token_id"] = l.eos_token_id ? nlohmann::json(*l.eos_token_id) : nlohmann::json();
  // A real BAGEL checkpoint carries neither; they are forced from the stage on load.
  llm.erase("qk_norm");
  llm.erase("layer_module");

  nlohmann::json vit = config.vit.raw.is_object() ? config.vit.raw : nlohmann::json::object();
  const auto& v = config.vit;
  vit["model_type"] = "siglip_vision_model";
  vit["hidden_size"] = v.hidden_size;
  vit["intermediate_size"] = v.intermediate_size;
  vit["num_hidden_layers"] = v.num_hidden_layers;
  vit["num_attention_heads"] = v.num_attention_heads;
  vit["num_channels"] = v.num_channels;
  vit["patch_size"] = v.patch_size;
  vit["image_size"] = v.image_size;
  vit["layer_norm_eps"] = v.layer_norm_eps;
  vit["hidden_act"] = "gelu_pytorch_tanh";

  nlohmann::json bagel = config.raw.is_object() ? config.raw : nlohmann::json::object();
  bagel["visual_gen"] = config.visual_gen;
  bagel["visual_und"] = config.visual_und;
  bagel["latent_patch_size"] = config.latent_patch_size;
  bagel["max_latent_size"] = config.max_latent_size;
  bagel["vit_max_num_patch_per_side"] = config.vit_max_num_patch_per_side;
  bagel["connector_act"] = config.connector_act;
  bagel["interpolate_pos"] = config.interpolate_pos;
  bagel["timestep_shift"] = config.timestep_shift;
  bagel["vit_select_layer"] = config.vit_select_layer;
  bagel["vae_config"] = {{"z_channels", config.vae.z_channels},
                         {"downsample", config.vae.downsample}};

  return {{"llm_config.json", llm}, {"vit_config.json", vit}, {"config.json", bagel}};
}

void WriteBagelConfig(const BagelConfig& config, const std::string& dir) {
  fs::create_directories(dir);
  const fs::path root(dir);
  for (const auto& [name, doc] : BagelConfigDocuments(config)) {
    const fs::path path = root / name;
    const fs::path tmp = root / (std::string(name) + ".tmp");
    {
      std::ofstream out(tmp);
      TORCH_CHECK(out, tmp.string(), ": cannot open for writing");
      out << doc.dump(2) << "\n";
      TORCH_CHECK(out.good(), tmp.string(), ": write failed");
    }
    fs::rename(tmp, path);
  }
}

}  // namespace bagel
