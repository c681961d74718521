// Trainer: rank 0's TensorBoard run in <checkpoint-root>/<job>/tensorboard/ (docs/METRICS.md,
// "TensorBoard"): every progress line rank 0 emits is also written there as events, and each
// attempt starts its own event file at its first step, so a resumed run shows each step once.
#include <filesystem>
#include <string>

#include "contract/checkpoint_layout.h"
#include "worker/tensorboard/training_run_log.h"
#include "worker/trainer/trainer.h"

namespace bagel::train {

void Trainer::OpenTensorBoardRun() {
  const std::string dir =
      (std::filesystem::path(job_dir_) / std::string(contract::kTensorBoardDir)).string();
  try {
    tensorboard::TrainingRunInfo info;
    info.first_step = step_->steps_done() + 1;
    info.spec_yaml = config::JobSpecToYaml(spec_);
    // The model as the job built it (the stage's fixes applied), in the files of an HF export.
    for (const auto& [name, doc] : BagelConfigDocuments(config_))
      info.model_config_json += "# " + name + "\n" + doc.dump(2) + "\n";
    info.prompts = spec_.eval.prompts;
    info.ce_weight = spec_.train.ce_weight;
    info.mse_weight = spec_.train.mse_weight;
    tensorboard_ = std::make_unique<tensorboard::TrainingRunLog>(dir, std::move(info));
  } catch (const std::exception& e) {
    progress_->Log(std::string("warning: no TensorBoard log: ") + e.what());
    return;
  }
  progress_->set_sink(
      [log = tensorboard_.get()](const contract::ProgressLine& line) { log->Record(line); });
  progress_->Log("tensorboard: " + dir);
}

}  // namespace bagel::train
