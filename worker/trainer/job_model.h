// The model a job spec describes, shared by the trainer and the memory planner so both see the
// same thing: its config (preset or HF-layout files, Stage, spec overrides), which of its
// parameters train (model.freeze_llm / freeze_vit / freeze_und) and its LoRA adapters (lora).
#pragma once

#include <string>
#include <vector>

#include "config/job_spec.h"
#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/lora/lora_adapters.h"

namespace bagel::train {

// The BagelConfig of spec.model (init_from preset or path; kJob must already be resolved).
BagelConfig JobModelConfig(const config::JobSpec& spec);

// The weights file an HF-layout checkpoint directory is initialised from: ema.safetensors when
// present (as the official code loads), else model.safetensors.
std::string InitWeightsFile(const std::string& checkpoint_dir);

// The adapter options of the spec's lora section.
lora::LoraOptions LoraOptionsOf(const config::LoraSpec& spec);

// Applies the spec's freezing, routing and LoRA settings to a built model: requires_grad off for
// every frozen parameter (with LoRA: everything but the adapters), so the sharded engine keeps
// no optimizer state for it. Returns the adapted modules' checkpoint names (empty without LoRA).
std::vector<std::string> ApplyTrainableSettings(const config::JobSpec& spec,
                                                BagelForUnifiedMultimodal& model);

}  // namespace bagel::train
