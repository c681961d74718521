// Maps BAGEL checkpoint keys (as in BAGEL-7B-MoT's ema.safetensors: "language_model.…",
// "vit_model.…", "connector.…", …) to this project's module tree, which roots them under
// "model." (BagelForUnifiedMultimodal owns `model`, a BagelModel), and loads a safetensors file
// into the tree.
//
// Stage 1 keeps the understanding keys and drops the generation ones (*_moe_gen, time_embedder,
// vae2llm, llm2vae, latent_pos_embed); Stage 2 keeps both. VAE keys (encoder.*, decoder.*) are
// always dropped: the VAE is not part of the model. The two sin-cos tables are recomputed, not
// read (their keys are optional). Strict mode fails on unexpected keys (matching no pattern, or
// naming a module the model does not have) and on missing ones, listing them; a shape mismatch
// fails in any mode.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "model/io/safetensors.h"

namespace bagel::io {

enum class CheckpointKeyKind {
  kUnderstanding,  // LLM (und expert), ViT, connector
  kGeneration,     // MoT generation expert and flow-matching heads
  kPositionTable,  // vit_pos_embed.pos_embed, latent_pos_embed.pos_embed (recomputed)
  kVae,            // encoder.*, decoder.* (FLUX AE)
  kUnknown,
};

CheckpointKeyKind ClassifyCheckpointKey(const std::string& key);

// "language_model.x" <-> "model.language_model.x".
std::string CheckpointKeyToNative(const std::string& key);
// Throws if `native` is not under "model.".
std::string NativeKeyToCheckpoint(const std::string& native);

struct LoadReport {
  std::vector<std::string> loaded;       // checkpoint keys copied into the model
  std::vector<std::string> converted;    // loaded after a Conv2d -> Linear patch conversion
  std::vector<std::string> dropped;      // known keys this stage does not use (generation, VAE)
  std::vector<std::string> recomputed;   // sin-cos tables: shape-checked, values recomputed
  std::vector<std::string> unexpected;   // unknown keys, or modules the model lacks
  std::vector<std::string> missing;      // checkpoint keys the model has but the file lacks
  std::vector<std::string> initialized;  // checkpoint keys filled by the initialiser instead

  std::string Summary() const;  // one line of counts
};

struct LoadOptions {
  int stage = 1;
  bool strict = false;
  // Only check names and shapes (e.g. a model on the meta device): copy nothing.
  bool validate_only = false;
};

// Loads `file` into `module`, whose parameter names are native ("model." + checkpoint key).
LoadReport LoadCheckpoint(torch::nn::Module& module, const SafetensorsFile& file,
                          const LoadOptions& options);

// The module's parameters under checkpoint names (for writing ema/model.safetensors).
std::map<std::string, at::Tensor> CheckpointStateDict(const torch::nn::Module& module);

}  // namespace bagel::io
