#include "model/lora/lora_adapters.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"
#include "model/nn/linear.h"

namespace bagel::lora {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A module's name as the checkpoint spells it (without ".weight").
std::string CheckpointModuleName(const std::string& native_module) {
  const std::string key = io::NativeKeyToCheckpoint(native_module + ".weight");
  return key.substr(0, key.size() - std::string(".weight").size());
}

uint64_t Fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::map<std::string, nn::Linear*> LinearsByName(BagelForUnifiedMultimodal& model) {
  std::map<std::string, nn::Linear*> out;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto* linear = dynamic_cast<nn::Linear*>(item.value().get())) {
      out[CheckpointModuleName(item.key())] = linear;
    }
  }
  return out;
}

constexpr const char* kPeftPrefix = "base_model.model.";

}  // namespace

std::vector<std::string> DefaultTargets() {
  return {R"(^language_model\.model\.layers\.\d+\.self_attn\.[qkvo]_proj(_moe_gen)?$)",
          R"(^language_model\.model\.layers\.\d+\.mlp(_moe_gen)?\.(gate|up|down)_proj$)"};
}

std::vector<std::string> AddLoraAdapters(BagelForUnifiedMultimodal& model,
                                         const LoraOptions& options, uint64_t seed) {
  TORCH_CHECK(options.rank >= 1, "lora.rank must be >= 1, got ", options.rank);
  const std::vector<std::string> targets =
      options.targets.empty() ? DefaultTargets() : options.targets;
  std::vector<std::regex> patterns;
  for (const std::string& t : targets) {
    try {
      patterns.emplace_back(t);
    } catch (const std::regex_error& e) {
      TORCH_CHECK(false, "lora.targets: '", t, "' is not a valid regex (", e.what(), ")");
    }
  }
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  std::vector<std::string> adapted;
  for (auto& [name, linear] : LinearsByName(model)) {
    const bool hit = std::any_of(patterns.begin(), patterns.end(),
                                 [&](const std::regex& r) { return std::regex_search(name, r); });
    if (!hit) continue;
    linear->AddLoraAdapter(options.rank, options.alpha, options.dropout);
    if (!linear->weight.is_meta()) {
      at::NoGradGuard no_grad;
      linear->lora_A.copy_(LoraInitialValue(name + ".lora_A", linear->lora_A.sizes(), seed));
      linear->lora_B.copy_(LoraInitialValue(name + ".lora_B", linear->lora_B.sizes(), seed));
    }
    adapted.push_back(name);
  }
  std::string joined;
  for (const auto& t : targets) joined += (joined.empty() ? "" : ", ") + t;
  TORCH_CHECK(!adapted.empty(), "lora.targets: no linear layer of the model matches ", joined);
  return adapted;
}

bool IsLoraKey(const std::string& key) {
  return EndsWith(key, ".lora_A") || EndsWith(key, ".lora_B");
}

at::Tensor LoraInitialValue(const std::string& key, at::IntArrayRef shape, uint64_t seed) {
  TORCH_CHECK(IsLoraKey(key) && shape.size() == 2, "not a LoRA adapter key: ", key);
  if (EndsWith(key, ".lora_B")) return at::zeros(shape, at::kFloat);
  at::Generator gen = at::detail::createCPUGenerator(Fnv1a(key, seed));
  const double bound = 1.0 / std::sqrt(static_cast<double>(shape[1]));
  return at::empty(shape, at::kFloat).uniform_(-bound, bound, gen);
}

std::map<std::string, at::Tensor> MergeLoraWeights(std::map<std::string, at::Tensor> weights,
                                                   double scale) {
  at::NoGradGuard no_grad;
  std::vector<std::string> modules;
  for (const auto& [key, value] : weights) {
    if (EndsWith(key, ".lora_A")) modules.push_back(key.substr(0, key.size() - 7));
  }
  for (const std::string& m : modules) {
    auto a = weights.find(m + ".lora_A"), b = weights.find(m + ".lora_B");
    auto w = weights.find(m + ".weight");
    TORCH_CHECK(b != weights.end() && w != weights.end(), "LoRA module ", m,
                " lacks its lora_B or weight");
    const at::Tensor delta = at::matmul(b->second.to(at::kFloat), a->second.to(at::kFloat));
    w->second = (w->second.to(at::kFloat) + delta * scale).to(w->second.scalar_type());
    weights.erase(a);
    weights.erase(b);
  }
  return weights;
}

void WritePeftAdapter(const std::string& dir, const std::map<std::string, at::Tensor>& weights,
                      const LoraOptions& options, const std::vector<std::string>& modules,
                      const std::string& base_model) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::map<std::string, at::Tensor> adapters;
  for (const std::string& m : modules) {
    for (const char* part : {"lora_A", "lora_B"}) {
      const std::string key = m + "." + part;
      auto it = weights.find(key);
      TORCH_CHECK(it != weights.end(), "no adapter weight ", key, " to export");
      adapters[std::string(kPeftPrefix) + key + ".weight"] = it->second;
    }
  }
  io::WriteSafetensors((fs::path(dir) / "adapter_model.safetensors").string(), adapters,
                       {{"format", "pt"}});
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", nullptr},
                                 {"r", options.rank},
                                 {"lora_alpha", options.alpha},
                                 {"lora_dropout", options.dropout},
                                 {"target_modules", modules},
                                 {"bias", "none"},
                                 {"fan_in_fan_out", false},
                                 {"use_rslora", false},
                                 {"init_lora_weights", true},
                                 {"inference_mode", true},
                                 {"modules_to_save", nullptr},
                                 {"base_model_name_or_path", base_model}};
  std::ofstream((fs::path(dir) / "adapter_config.json").string()) << config.dump(2) << "\n";
}

int MergePeftAdapterInto(const std::string& dir, BagelForUnifiedMultimodal& model) {
  namespace fs = std::filesystem;
  const fs::path config_path = fs::path(dir) / "adapter_config.json";
  std::ifstream in(config_path);
  TORCH_CHECK(in, config_path.string(), ": cannot read the adapter config");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, config_path.string(), ": not JSON (", e.what(), ")");
  }
  TORCH_CHECK(config.value("peft_type", "") == "LORA", config_path.string(),
              ": peft_type must be LORA");
  const double r = config.at("r").get<double>(), alpha = config.at("lora_alpha").get<double>();
  const double scale = config.value("use_rslora", false) ? alpha / std::sqrt(r) : alpha / r;
  const std::string file = (fs::path(dir) / "adapter_model.safetensors").string();
  auto adapters = io::SafetensorsFile::Open(file);
  auto linears = LinearsByName(model);
  at::NoGradGuard no_grad;
  int merged = 0;
  const std::string suffix = ".lora_A.weight";
  for (const auto& [key, entry] : adapters->entries()) {
    if (!EndsWith(key, suffix)) continue;
    std::string module = key.substr(0, key.size() - suffix.size());
    if (module.rfind(kPeftPrefix, 0) == 0) module = module.substr(std::string(kPeftPrefix).size());
    auto it = linears.find(module);
    TORCH_CHECK(it != linears.end(), file, ": the model has no linear layer ", module);
    const std::string b_key = key.substr(0, key.size() - suffix.size()) + ".lora_B.weight";
    TORCH_CHECK(adapters->Contains(b_key), file, ": ", module, " has lora_A but no lora_B");
    const at::Tensor a = adapters->Read(key, at::kFloat), b = adapters->Read(b_key, at::kFloat);
    at::Tensor& w = it->second->weight;
    TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && b.size(1) == a.size(0) && b.size(0) == w.size(0) &&
                    a.size(1) == w.size(1),
                file, ": the adapter of ", module, " (", a.sizes(), ", ", b.sizes(),
                ") does not fit its weight ", w.sizes());
    w.copy_(w.to(at::kFloat) + at::matmul(b, a).to(w.device()) * scale);
    ++merged;
  }
  TORCH_CHECK(merged > 0, file, ": no LoRA adapter in the file");
  return merged;
}

}  // namespace bagel::lora
