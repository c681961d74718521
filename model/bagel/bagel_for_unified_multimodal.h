// BagelForUnifiedMultimodal: the C++ form of NeMo AutoModel's BAGEL wrapper (the seed API,
// docs/MODEL.md §9), computing what the official implementation
// computes (BAGEL.md §2.2).
//
//   Python (seed)               C++ (here)
//   forward(...)                Forward(const PackedBatch&, const ForwardOptions&)
//   from_pretrained(dir, ...)   FromPretrained(dir, stage, strict, options)
//   get_input_embeddings()      GetInputEmbeddings()
//   get_output_embeddings()     GetOutputEmbeddings()
//   initialize_weights()        InitializeWeights(seed)
//   supports_config(config)     SupportsConfig(config)
//   hidden_size, num_heads,     HiddenSize(), NumHeads(), UseMoe()
//   use_moe
//   model                       model (a BagelModel)
//
// Stage 1 (visual_gen off) computes the CE of understanding; Stage 2 adds the flow-matching
// branch (MSE) and the MoT generation expert. The VAE is not owned: Stage 2 batches carry
// padded_latent already encoded.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <optional>
#include <string>

#include "model/bagel/bagel_model.h"
#include "model/bagel/packed_batch.h"
#include "model/config/stage.h"
#include "model/io/state_dict_adapter.h"

namespace bagel {

struct ForwardOptions {
  // Draws the flow-matching noise when the batch does not inject it.
  std::optional<at::Generator> noise_generator;
  // The caller reduces the per-token CE by a sum or mean (the training loss does), so its
  // gradient is the same for every token: the backward scales the lm_head gradient on the
  // device instead of reading the gradient to find out.
  bool uniform_ce_gradient = false;
};

struct ForwardOutputs {
  at::Tensor ce;   // [n_ce] per-token cross-entropy (reduction none), or undefined
  at::Tensor mse;  // [n_mse, p*p*z] per-element squared error, or undefined
};

struct FromPretrainedOptions {
  at::TensorOptions tensor_options = at::TensorOptions().dtype(at::kFloat);
  // Seed for parameters a non-strict load leaves missing.
  uint64_t init_seed = 4396;
  // The weights file inside the directory: ema.safetensors, else model.safetensors.
  std::string weights_file;
};

class BagelForUnifiedMultimodal : public torch::nn::Module {
 public:
  // `config` is prepared for config.stage here if it was not already (vit_layers_built == 0).
  BagelForUnifiedMultimodal(BagelConfig config, const at::TensorOptions& options);

  struct Loaded {
    std::shared_ptr<BagelForUnifiedMultimodal> model;
    io::LoadReport report;
  };
  // Reads the configs of `dir`, builds the model for `stage` and loads its weights through the
  // state-dict adapter. On the meta device it only validates names and shapes.
  static Loaded FromPretrained(const std::string& dir, const StageValue& stage = 1,
                               bool strict = false, const FromPretrainedOptions& options = {});

  ForwardOutputs Forward(const PackedBatch& batch, const ForwardOptions& options = {}) const;

  nn::Embedding& GetInputEmbeddings() const;
  nn::Linear& GetOutputEmbeddings() const;
  void InitializeWeights(uint64_t seed = 4396);
  static bool SupportsConfig(const BagelConfig& config, std::string* why = nullptr);

  int64_t HiddenSize() const { return config_.llm.hidden_size; }
  int64_t NumHeads() const { return config_.llm.num_attention_heads; }
  bool UseMoe() const { return config_.llm.layer_module != LayerModule::kDense; }
  int Stage() const { return config_.stage; }
  const BagelConfig& config() const { return config_; }
  // freeze_und is a forward-time switch (BAGEL.md §2.7), settable after construction.
  void SetFreezeUnd(bool freeze) { config_.llm.freeze_und = freeze; }
  // Turns off requires_grad of every parameter that freeze_und leaves without gradient (all
  // but the generation expert, vae2llm, llm2vae, time_embedder and lm_head), so a trainer keeps
  // no optimizer state for them. The official code keeps them trainable with zero gradient:
  // the same update unless weight decay is on (docs/MEMORY.md).
  void FreezeUnderstandingParameters();
  // MoT routing with one permutation per forward instead of gathers per layer (same result).
  void SetGroupedRouting(bool grouped) { config_.llm.grouped_routing = grouped; }

  std::shared_ptr<BagelModel> model;

 private:
  BagelConfig config_;
};

}  // namespace bagel
