// Export of a sharded model to the Hugging Face layout of BAGEL-7B-MoT (SERVICE.md): the config
// files, ema.safetensors (the EMA, or the weights when training kept none), model.safetensors
// (the raw weights), ae.safetensors for Stage 2, with LoRA the merged weights and adapter/, and the
// tokenizer files of the checkpoint training started from -- what FromPretrained and the official
// code read. Collective: every rank gathers; rank 0 writes into a staging directory and renames it
// into place.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/config/bagel_config.h"
#include "model/lora/lora_adapters.h"
#include "worker/fsdp/fsdp_engine.h"

namespace bagel::train {

struct ShardedExportOptions {
  std::string dir;             // the export directory (replaced)
  bool ema = true;             // ema.safetensors from the EMA shards (else from the weights)
  std::string vae_path;        // copied as ae.safetensors when set
  std::string tokenizer_from;  // directory whose tokenizer files are copied ("" = none)
  // LoRA: the adapters are merged into both weight files (W + alpha/r B A, what the official
  // code loads) and written beside them in PEFT's layout (adapter/, from the EMA when kept).
  std::optional<lora::LoraOptions> lora;
  std::vector<std::string> lora_modules;
  std::string lora_base;  // adapter_config.json's base_model_name_or_path
};

void ExportShardedHf(fsdp::FsdpEngine& engine, const BagelConfig& config,
                     const ShardedExportOptions& options);

}  // namespace bagel::train
