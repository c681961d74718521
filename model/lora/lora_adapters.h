// LoRA adapters on BAGEL's linear layers (Hu et al. 2021), in PEFT's layout: for a targeted
// Linear, lora_A [r, in] and lora_B [out, r] with y = W x + b + (alpha / r) B A x. Targets are
// regexes over module names as the checkpoint spells them
// ("language_model.model.layers.3.self_attn.q_proj_moe_gen"); the default is the attention
// projections and the MLP of both experts. Everything that is not an adapter is frozen.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "model/bagel/bagel_for_unified_multimodal.h"

namespace bagel::lora {

struct LoraOptions {
  int64_t rank = 16;
  double alpha = 32;
  double dropout = 0;
  std::vector<std::string> targets;  // empty: DefaultTargets()
};

// q/k/v/o_proj and mlp gate/up/down_proj of every LLM layer, *_moe_gen included.
std::vector<std::string> DefaultTargets();

// Adds adapters to every Linear whose checkpoint module name matches a target (std::regex
// search) and turns off requires_grad of every other parameter. On a model with real weights
// the adapters get their initial values (seeded per key); on the meta device the caller fills
// them (LoraInitialValue). Returns the adapted module names, sorted; throws c10::Error naming
// the targets when nothing matches or a regex is invalid.
std::vector<std::string> AddLoraAdapters(BagelForUnifiedMultimodal& model,
                                         const LoraOptions& options, uint64_t seed);

// "<module>.lora_A" / "<module>.lora_B".
bool IsLoraKey(const std::string& key);

// PEFT's initialisation: A ~ U(+-1/sqrt(in)) (kaiming-uniform, a = sqrt(5)), B = 0, drawn from
// a generator seeded with (seed, key) so every rank and every sharding agree.
at::Tensor LoraInitialValue(const std::string& key, at::IntArrayRef shape, uint64_t seed);

// Full weights by checkpoint key, adapters included -> the merged weights the official code
// loads: W + scale B A for every adapted module (in float32), the adapter keys removed.
std::map<std::string, at::Tensor> MergeLoraWeights(std::map<std::string, at::Tensor> weights,
                                                   double scale);

// Writes adapter_config.json and adapter_model.safetensors (keys
// "base_model.model.<module>.lora_A.weight") from full weights holding the adapters.
void WritePeftAdapter(const std::string& dir, const std::map<std::string, at::Tensor>& weights,
                      const LoraOptions& options, const std::vector<std::string>& modules,
                      const std::string& base_model);

// Reads a PEFT LoRA adapter directory and adds scale B A to the matching weights of `model`
// (in place, under no-grad). Returns the number of modules merged; throws naming the file and
// the module when a module is missing or a shape does not fit.
int MergePeftAdapterInto(const std::string& dir, BagelForUnifiedMultimodal& model);

}  // namespace bagel::lora
