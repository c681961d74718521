#include "worker/trainer/sharded_export.h"

#include <filesystem>

#include "model/io/safetensors.h"

namespace bagel::train {

void ExportShardedHf(fsdp::FsdpEngine& engine, const BagelConfig& config,
                     const ShardedExportOptions& o) {
  namespace fs = std::filesystem;
  const bool writer = engine.world().rank() == 0;  // the others only take part in the gathers
  auto weights = engine.GatherFull(/*ema=*/false, /*keep=*/writer);
  auto ema = o.ema ? engine.GatherFull(/*ema=*/true, /*keep=*/writer) : weights;
  if (writer) {
    const fs::path target(o.dir);
    const fs::path staging = target.string() + ".staging";
    fs::remove_all(staging);
    fs::create_directories(staging);
    if (o.lora) {
      lora::WritePeftAdapter((staging / "adapter").string(), ema, *o.lora, o.lora_modules,
                             o.lora_base);
      const double scale = o.lora->alpha / static_cast<double>(o.lora->rank);
      weights = lora::MergeLoraWeights(std::move(weights), scale);
      ema = o.ema ? lora::MergeLoraWeights(std::move(ema), scale) : weights;
    }
    WriteBagelConfig(config, staging.string());
    const std::map<std::string, std::string> meta = {{"format", "pt"}};
    io::WriteSafetensors((staging / "model.safetensors").string(), weights, meta);
    io::WriteSafetensors((staging / "ema.safetensors").string(), ema, meta);
    if (!o.vae_path.empty()) fs::copy_file(o.vae_path, staging / "ae.safetensors");
    if (!o.tokenizer_from.empty()) {
      for (const char* name :
           {"vocab.json", "merges.txt", "added_tokens.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
        if (fs::exists(fs::path(o.tokenizer_from) / name))
          fs::copy_file(fs::path(o.tokenizer_from) / name, staging / name);
      }
    }
    fs::remove_all(target);
    fs::rename(staging, target);
  }
  // Writing a large model can outlast the collective timeout.
  engine.world().WaitForRankZero("hf-export");
}

}  // namespace bagel::train
