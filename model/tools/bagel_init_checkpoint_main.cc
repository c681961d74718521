// bagel-init-checkpoint: writes a randomly initialised HF-layout BAGEL checkpoint
// (llm_config.json, vit_config.json, config.json, ema.safetensors) for tests and demos.
//
//   bagel-init-checkpoint --out DIR [--preset tiny|small|medium] [--stage 1|2] [--seed N]
//       [--hidden-size N] [--intermediate-size N] [--layers N] [--heads N] [--kv-heads N]
//       [--vocab-size N] [--vit-hidden-size N] [--vit-intermediate-size N] [--vit-layers N]
//       [--vit-heads N] [--max-latent-size N] [--dtype fp32|bf16]
//       [--vae tiny|flux] [--vae-out PATH]
// --vit-layers counts the layers in the file; the model uses one fewer (vit_select_layer -2).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/config/presets.h"
#include "model/config/stage.h"
#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"
#include "model/tools/tool_main.h"
#include "model/vae/flux_vae.h"

int main(int argc, char** argv) {
  CLI::App app{"Write a random HF-layout BAGEL checkpoint"};
  std::string out, preset = "tiny", stage = "1", dtype = "fp32";
  uint64_t seed = 4396;
  int64_t hidden = 0, inter = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0;
  int64_t vit_hidden = 0, vit_inter = 0, vit_layers = 0, vit_heads = 0, max_latent = 0;
  app.add_option("--out", out, "output directory")->required();
  app.add_option("--preset", preset, "tiny, small or medium (BENCH.md shapes)");
  app.add_option("--stage", stage, "1 or 2 (2 adds the MoT generation expert)");
  app.add_option("--seed", seed, "initialisation seed");
  app.add_option("--hidden-size", hidden);
  app.add_option("--intermediate-size", inter);
  app.add_option("--layers", layers);
  app.add_option("--heads", heads);
  app.add_option("--kv-heads", kv_heads);
  app.add_option("--vocab-size", vocab);
  app.add_option("--vit-hidden-size", vit_hidden);
  app.add_option("--vit-intermediate-size", vit_inter);
  app.add_option("--vit-layers", vit_layers, "ViT layers in the file (one fewer are used)");
  app.add_option("--vit-heads", vit_heads);
  app.add_option("--max-latent-size", max_latent);
  app.add_option("--dtype", dtype, "fp32 or bf16 weights");
  std::string vae_shape, vae_out;
  app.add_option(
      "--vae", vae_shape,
      "also write a random ae.safetensors: tiny (ch 32, 1 res block) or flux (the real shape)");
  app.add_option("--vae-out", vae_out, "where the VAE goes (default: DIR/ae.safetensors)");
  bool config_only = false;
  app.add_flag("--config-only", config_only,
               "write only the config files (no weights): what bagel-plan needs of a checkpoint");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-init-checkpoint", [&] {
    bagel::BagelConfig config = bagel::PresetConfig(preset);
    auto set = [](int64_t& field, int64_t value) {
      if (value > 0) field = value;
    };
    set(config.llm.hidden_size, hidden);
    set(config.llm.intermediate_size, inter);
    set(config.llm.num_hidden_layers, layers);
    set(config.llm.num_attention_heads, heads);
    set(config.llm.num_key_value_heads, kv_heads);
    set(config.llm.vocab_size, vocab);
    set(config.vit.hidden_size, vit_hidden);
    set(config.vit.intermediate_size, vit_inter);
    set(config.vit.num_hidden_layers, vit_layers);
    set(config.vit.num_attention_heads, vit_heads);
    set(config.max_latent_size, max_latent);
    const int s = bagel::ParseStage(stage);
    bagel::PrepareConfigForStage(config, s);
    if (config_only) {
      std::filesystem::create_directories(out);
      bagel::WriteBagelConfig(config, out);
      std::cout << "wrote " << out << ": config files of stage " << s << " (no weights)"
                << std::endl;
      return;
    }
    bagel::BagelForUnifiedMultimodal model(config, at::TensorOptions().dtype(at::kFloat));
    model.InitializeWeights(seed);
    std::filesystem::create_directories(out);
    bagel::WriteBagelConfig(model.config(), out);
    auto tensors = bagel::io::CheckpointStateDict(model);
    const at::ScalarType type = bagel::ParseDtype(dtype);
    for (auto& [name, t] : tensors) t = t.to(type);
    bagel::io::WriteSafetensors((std::filesystem::path(out) / "ema.safetensors").string(), tensors,
                                {{"format", "pt"}});
    if (!vae_shape.empty()) {
      bagel::vae::FluxVaeParams params = bagel::vae::FluxDevVaeParams();
      if (vae_shape == "tiny") {
        params.ch = 32;
        params.num_res_blocks = 1;
      } else {
        TORCH_CHECK(vae_shape == "flux", "--vae must be tiny or flux, got '", vae_shape, "'");
      }
      bagel::vae::FluxVae vae(params, at::TensorOptions().dtype(at::kFloat));
      vae.InitializeRandom(seed);
      std::map<std::string, at::Tensor> weights;
      for (const auto& item : vae.named_parameters()) weights[item.key()] = item.value().detach();
      const std::string path =
          vae_out.empty() ? (std::filesystem::path(out) / "ae.safetensors").string() : vae_out;
      bagel::io::WriteSafetensors(path, weights, {{"format", "pt"}});
      std::cout << "wrote " << path << ": FLUX VAE (" << params.Describe() << ")" << std::endl;
    }
    int64_t count = 0;
    for (const auto& [name, t] : tensors) count += t.numel();
    std::cout << "wrote " << out << ": stage " << s << ", " << tensors.size() << " tensors, "
              << count << " parameters (" << dtype << ")" << std::endl;
  });
}
