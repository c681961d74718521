// Trainer: the HF export at the end of the job (checkpoint.export_hf): the EMA (or master)
// weights in the layout the official code loads, with the VAE and the tokenizer beside them.
#include <filesystem>

#include "worker/trainer/job_model.h"
#include "worker/trainer/sharded_export.h"
#include "worker/trainer/trainer.h"

namespace bagel::train {

std::string Trainer::ExportHf() {
  ShardedExportOptions eo;
  eo.dir = (std::filesystem::path(job_dir_) / "hf").string();
  eo.ema = spec_.train.ema_decay > 0;
  eo.model_weights = spec_.checkpoint.export_model;
  eo.dtype = spec_.checkpoint.export_dtype == "fp32" ? at::kFloat : at::kBFloat16;
  eo.shard_gib = spec_.checkpoint.export_shard_gib;
  eo.vae_path = stage_ == 2 ? spec_.model.vae : "";
  eo.tokenizer_from = tokenizer_dir_;
  if (spec_.lora.enabled) {
    eo.lora = LoraOptionsOf(spec_.lora);
    eo.lora_modules = lora_modules_;
    eo.lora_base = lora_base_.at("base").get<std::string>();
  }
  ExportShardedHf(*engine_, model_->config(), eo);
  return eo.dir;
}

}  // namespace bagel::train
