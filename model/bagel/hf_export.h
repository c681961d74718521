// Writes a model as an HF-layout BAGEL checkpoint directory: llm_config.json, vit_config.json,
// config.json and the weights under checkpoint key names (ema.safetensors and/or
// model.safetensors), which FromPretrained and the official code read. Files are written to a
// staging directory and renamed into place, so a crash never leaves a half-written export.
#pragma once

#include <map>
#include <string>

#include "model/bagel/bagel_for_unified_multimodal.h"

namespace bagel {

struct HfExportOptions {
  bool write_ema = true;    // ema.safetensors (the file the official loaders read)
  bool write_model = true;  // model.safetensors (raw weights)
  at::ScalarType dtype = at::kFloat;
  // When set, ema.safetensors holds these tensors (checkpoint key names) instead of the model's.
  const std::map<std::string, at::Tensor>* ema = nullptr;
};

void ExportHfCheckpoint(const BagelForUnifiedMultimodal& model, const std::string& dir,
                        const HfExportOptions& options = {});

}  // namespace bagel
