// Trainer: evaluation at eval.every_steps -- validation losses on eval.dataset (or generated
// data), the same batches every time, and in Stage 2 sample images from eval.prompts.
#include <chrono>
#include <cmath>
#include <filesystem>

#include "model/lora/lora_adapters.h"
#include "worker/trainer/generator_state.h"
#include "worker/trainer/trainer.h"

#include "contract/checkpoint_layout.h"

namespace bagel::train {

void Trainer::Evaluate(int64_t at_step) {
  namespace fs = std::filesystem;
  data::DemoDataOptions val_options = demo_options_;
  val_options.seed = demo_options_.seed + 999;
  data::DemoData val(val_options, packer_, tokens_);
  auto val_stream =
      eval_datasets_ ? MakeStream({*spec_.eval.dataset}, spec_.train.seed + 999, 0) : nullptr;
  std::vector<PackedBatch> batches;
  for (int64_t b = 0; b < spec_.eval.max_batches; ++b) {
    data::PackedSequence packed = val_stream ? val_stream->Next().packed : val.Next();
    PackedBatch vb = packed.batch.To(device_, fsdp_options_.compute_dtype);
    if (vae_ && packed.padded_images.defined()) {
      at::NoGradGuard no_grad;
      vb.padded_latent = vae_->EncodeMean(packed.padded_images.to(device_)).to(at::kFloat);
    } else {
      vb.patchified_vae_latent_shapes.clear();
    }
    batches.push_back(std::move(vb));
  }
  at::Generator eval_gen = MakeGenerator(device_, spec_.train.seed + 17);
  const auto [val_ce, val_mse] = step_->Evaluate(batches, eval_gen);
  contract::ProgressLine line;
  line.kind = contract::ProgressLine::Kind::kEval;
  line.step = at_step;
  if (!std::isnan(val_ce)) line.val_ce = val_ce;
  if (!std::isnan(val_mse)) line.val_mse = val_mse;
  if (eval_samples_) {
    // Every rank takes part in the gather, only rank 0 keeps the weights and samples; the
    // others wait for it without the collective timeout (sampling may take longer).
    auto weights = engine_->GatherFull(/*ema=*/spec_.train.ema_decay > 0, /*keep=*/env_.rank == 0);
    // The sampling model has no adapters: they are merged into its weights.
    if (spec_.lora.enabled && env_.rank == 0)
      weights = lora::MergeLoraWeights(std::move(weights), spec_.lora.alpha / spec_.lora.rank);
    if (env_.rank == 0) {
      EvalSampleOptions so = *eval_samples_;
      so.out_dir = (fs::path(job_dir_) / "eval" / contract::StepDirName(at_step)).string();
      so.dtype = fsdp_options_.compute_dtype;
      const auto t0 = std::chrono::steady_clock::now();
      line.images = WriteEvalSamples(model_->config(), weights, vae_, device_, so);
      line.sample_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    world_->WaitForRankZero("eval-samples-" + std::to_string(at_step));
  }
  progress_->Emit(line);
}

}  // namespace bagel::train
