// Export of a sharded model to the Hugging Face layout of BAGEL-7B-MoT (SERVICE.md): the config
// files, ema.safetensors (the EMA, or the weights when training kept none), model.safetensors
// (the raw weights) when asked, ae.safetensors for Stage 2, with LoRA the merged weights and
// adapter/ in PEFT's layout, and the tokenizer files of the checkpoint training started from --
// what FromPretrained and the official code read.
//
// Streamed: every rank takes part in gathering one unit at a time; rank 0 converts it to the
// export dtype and writes it straight into the file (the safetensors header is known from the
// shapes before any data), so it holds at most one gathered unit and one write buffer, never the
// model. Rank 0 writes into a staging directory and renames it into place.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "model/config/bagel_config.h"
#include "model/lora/lora_adapters.h"
#include "worker/fsdp/fsdp_engine.h"

namespace bagel::train {

struct ShardedExportOptions {
  std::string dir;                       // the export directory (replaced)
  bool ema = true;                       // ema.safetensors from the EMA shards (else the weights)
  bool model_weights = false;            // model.safetensors (the weights without EMA) as well
  at::ScalarType dtype = at::kBFloat16;  // of the exported weights (the official release: bf16)
  // > 0: each weights file is also written as shards of at most this many GiB, with a
  // <name>.safetensors.index.json, as Hugging Face writes them.
  double shard_gib = 0;
  size_t write_buffer_bytes = 64u << 20;
  std::string vae_path;        // copied as ae.safetensors when set
  std::string tokenizer_from;  // directory whose tokenizer files are copied ("" = none)
  // LoRA: the adapters are merged into the weight files (W + alpha/r B A, what the official
  // code loads) and written beside them in PEFT's layout (adapter/, from the EMA when kept).
  std::optional<lora::LoraOptions> lora;
  std::vector<std::string> lora_modules;
  std::string lora_base;  // adapter_config.json's base_model_name_or_path
};

void ExportShardedHf(fsdp::FsdpEngine& engine, const BagelConfig& config,
                     const ShardedExportOptions& options);

}  // namespace bagel::train
