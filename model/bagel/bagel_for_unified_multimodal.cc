#include "model/bagel/bagel_for_unified_multimodal.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <set>

#include "model/bagel/weight_init.h"
#include "model/config/bagel_config.h"
#include "model/losses/fused_linear_cross_entropy.h"
#include "model/qwen2/token_routing.h"

namespace bagel {
namespace {

BagelConfig Prepared(BagelConfig config) {
  if (config.vit_layers_built == 0) PrepareConfigForStage(config, config.stage);
  return config;
}

// padded_latent [B, z, H, W] -> [sum h*w, p*p*z]: each image cropped to its (h, w) patches,
// patchified (h, w, p, q, c) in raster order (BAGEL.md §2.2 step 3).
at::Tensor PatchifyLatents(const PackedBatch& b, int64_t p) {
  std::vector<at::Tensor> parts;
  const int64_t z = b.padded_latent.size(1);
  for (size_t i = 0; i < b.patchified_vae_latent_shapes.size(); ++i) {
    const auto [h, w] = b.patchified_vae_latent_shapes[i];
    TORCH_CHECK(h * p <= b.padded_latent.size(2) && w * p <= b.padded_latent.size(3),
                "patchified_vae_latent_shapes[", i, "] = (", h, ", ", w, ") exceeds padded_latent ",
                b.padded_latent.sizes());
    at::Tensor lat = b.padded_latent[i].narrow(1, 0, h * p).narrow(2, 0, w * p);
    parts.push_back(
        lat.reshape({z, h, p, w, p}).permute({1, 3, 2, 4, 0}).reshape({h * w, p * p * z}));
  }
  return at::cat(parts, 0);
}

// Fills what a non-strict load left missing, as the official code starts Stage 2 from an
// understanding-only model (SERVICE.md): each *_moe_gen parameter copied from its loaded
// understanding twin (init_moe), everything else freshly initialised (time_embedder, vae2llm,
// llm2vae zero, and the sin-cos tables). Every key filled is listed in report.initialized.
void InitializeMissing(BagelForUnifiedMultimodal& model, uint64_t seed, io::LoadReport& report) {
  std::set<std::string> loaded(report.loaded.begin(), report.loaded.end());
  std::set<std::string> fresh;
  auto params = model.named_parameters();
  at::NoGradGuard no_grad;
  for (const std::string& key : report.missing) {
    const size_t at_gen = key.find("_moe_gen");
    if (at_gen != std::string::npos) {
      const std::string twin = key.substr(0, at_gen) + key.substr(at_gen + 8);
      if (loaded.count(twin)) {
        params.find(io::CheckpointKeyToNative(key))
            ->copy_(*params.find(io::CheckpointKeyToNative(twin)));
        report.initialized.push_back(key + " (copied from " + twin + ")");
        continue;
      }
    }
    fresh.insert(key);
    report.initialized.push_back(key);
  }
  if (!fresh.empty()) InitializeBagelWeights(*model.model, model.config(), seed, &fresh);
}

}  // namespace

BagelForUnifiedMultimodal::BagelForUnifiedMultimodal(BagelConfig config,
                                                     const at::TensorOptions& options)
    : config_(Prepared(std::move(config))) {
  std::string why;
  TORCH_CHECK(SupportsConfig(config_, &why), "unsupported BAGEL config: ", why);
  model = register_module("model", std::make_shared<BagelModel>(config_, options));
}

BagelForUnifiedMultimodal::Loaded BagelForUnifiedMultimodal::FromPretrained(
    const std::string& dir, const StageValue& stage_value, bool strict,
    const FromPretrainedOptions& options) {
  namespace fs = std::filesystem;
  const int stage = NormalizeStage(stage_value);
  BagelConfig config = LoadBagelConfig(dir);
  PrepareConfigForStage(config, stage);
  std::string weights = options.weights_file;
  if (weights.empty()) {
    weights =
        fs::exists(fs::path(dir) / "ema.safetensors") ? "ema.safetensors" : "model.safetensors";
  }
  const std::string path = (fs::path(dir) / weights).string();
  TORCH_CHECK(fs::exists(path), dir, ": no ema.safetensors or model.safetensors");
  auto file = io::SafetensorsFile::Open(path);

  Loaded out;
  out.model = std::make_shared<BagelForUnifiedMultimodal>(config, options.tensor_options);
  io::LoadOptions load;
  load.stage = stage;
  load.strict = strict;
  load.validate_only = options.tensor_options.device().is_meta();
  out.report = io::LoadCheckpoint(*out.model, *file, load);
  if (!out.report.missing.empty() && !load.validate_only) {
    InitializeMissing(*out.model, options.init_seed, out.report);
  }
  return out;
}

ForwardOutputs BagelForUnifiedMultimodal::Forward(const PackedBatch& b,
                                                  const ForwardOptions& options) const {
  const BagelModel& m = *model;
  const int64_t n = b.sequence_length;
  const AttentionLayout layout = b.Layout();
  Qwen2Model& lm = *m.language_model->model;

  // 1. Text embeddings.
  at::Tensor text = lm.embed_tokens->Forward(b.packed_text_ids);  // [n_text, H]
  at::Tensor seq = at::zeros({n, HiddenSize()}, text.options());
  seq = seq.index_put({b.packed_text_indexes}, text);

  // 2. ViT tokens through SigLIP, the connector and the sin-cos table.
  const bool vit = config_.visual_und && b.has_vit();
  if (vit) {
    at::Tensor e =
        m.vit_model->Forward(b.packed_vit_tokens, b.packed_vit_position_ids, b.vit_token_seqlens);
    e = m.connector->Forward(e) + m.vit_pos_embed->Forward(b.packed_vit_position_ids);
    seq = seq.index_put({b.packed_vit_token_indexes}, e);
  }

  // 3. VAE latents: x_t = (1 - t) x0 + t noise with shifted logit-normal t (Stage 2).
  const bool gen = config_.visual_gen && b.has_latents();
  at::Tensor x0, noise, timesteps;
  if (gen) {
    x0 = PatchifyLatents(b, config_.latent_patch_size);
    if (b.noise.defined()) {
      noise = b.noise.to(x0.scalar_type());
    } else {
      noise = at::randn(x0.sizes(), options.noise_generator, x0.options());
    }
    const double s = config_.timestep_shift;
    timesteps = at::sigmoid(b.packed_timesteps.to(at::kFloat));
    timesteps = s * timesteps / (1.0 + (s - 1.0) * timesteps);
    // As under bf16 autocast: t is float32, so x_t is float32 (the latents and the noise are
    // float32 too) until vae2llm's GEMM reads it in the weights' dtype.
    at::Tensor t = timesteps.unsqueeze(1);
    at::Tensor xt = (1 - t) * x0 + t * noise;
    at::Tensor e = m.vae2llm->Forward(xt) + m.time_embedder->Forward(timesteps) +
                   m.latent_pos_embed->Forward(b.packed_latent_position_ids);
    seq = seq.index_put({b.packed_vae_token_indexes}, e.to(seq.scalar_type()));
  }

  // 4-5. The language model (MoT: und = text + ViT, gen = every latent token).
  std::optional<TokenRouting> routing;
  if (UseMoe()) {
    at::Tensor und =
        vit ? at::cat({b.packed_text_indexes, b.packed_vit_token_indexes}) : b.packed_text_indexes;
    at::Tensor gen_idx = gen ? b.packed_vae_token_indexes : at::Tensor();
    // The batch's host fact covers text + ViT + latent tokens: it applies when all are routed.
    auto count = [](const at::Tensor& t) { return t.defined() ? t.numel() : 0; };
    const bool all_routed = (vit || count(b.packed_vit_token_indexes) == 0) &&
                            (gen || count(b.packed_vae_token_indexes) == 0);
    routing =
        TokenRouting::Make(und, gen_idx, n, config_.llm.freeze_und, config_.llm.grouped_routing,
                           all_routed ? b.routing_is_partition : std::nullopt);
  }
  at::Tensor hidden = lm.Forward(seq, b.packed_position_ids, layout, routing ? &*routing : nullptr);

  ForwardOutputs out;
  // 6. MSE on the velocity noise - x0, for latent tokens with t > 0.
  if (gen && b.mse_loss_indexes.defined() && b.mse_loss_indexes.numel() > 0) {
    at::Tensor pred = m.llm2vae->Forward(hidden.index_select(0, b.mse_loss_indexes));
    at::Tensor target = (noise - x0).index_select(0, timesteps.gt(0).nonzero().squeeze(1));
    TORCH_CHECK(pred.size(0) == target.size(0), "mse_loss_indexes has ", pred.size(0),
                " entries but ", target.size(0), " latent tokens have t > 0");
    // The square in float32, as autocast runs pow (the difference is float32 already when the
    // target is: a bf16 prediction minus a float32 target).
    out.mse = (pred - target).to(at::kFloat).pow(2);
  }
  // 7. CE over the lm_head, never materialising the full logits.
  if (b.has_ce()) {
    at::Tensor h = hidden.index_select(0, b.ce_loss_indexes);
    FusedCrossEntropyOptions ce_options;
    ce_options.uniform_gradient = options.uniform_ce_gradient;
    if (b.label_range) {
      const auto [lo, hi] = *b.label_range;
      TORCH_CHECK(hi < config_.llm.vocab_size, "packed_label_ids: label ", hi,
                  " is outside the vocabulary [0, ", config_.llm.vocab_size, ")");
      if (lo >= 0) ce_options.labels_all_valid = true;  // else the device tells the ignored ones
    }
    out.ce = FusedLinearCrossEntropy(h, m.language_model->lm_head->weight, b.packed_label_ids,
                                     ce_options);
  }
  return out;
}

nn::Embedding& BagelForUnifiedMultimodal::GetInputEmbeddings() const {
  return *model->language_model->model->embed_tokens;
}

nn::Linear& BagelForUnifiedMultimodal::GetOutputEmbeddings() const {
  return *model->language_model->lm_head;
}

void BagelForUnifiedMultimodal::FreezeUnderstandingParameters() {
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    const bool generation_path = name.find("_moe_gen") != std::string::npos ||
                                 name.find("vae2llm") != std::string::npos ||
                                 name.find("llm2vae") != std::string::npos ||
                                 name.find("time_embedder") != std::string::npos ||
                                 name.find("lm_head") != std::string::npos;
    if (!generation_path) item.value().set_requires_grad(false);
  }
}

void BagelForUnifiedMultimodal::InitializeWeights(uint64_t seed) {
  InitializeBagelWeights(*model, config_, seed);
}

bool BagelForUnifiedMultimodal::SupportsConfig(const BagelConfig& config, std::string* why) {
  return bagel::SupportsConfig(config, why);
}

}  // namespace bagel
