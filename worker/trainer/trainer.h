// One rank of one training job, as named steps that read top to bottom like torchtitan's train
// entry (contract/TRAINER_CONTRACT.md): set up the rank, build and shard the model, build the
// data, build the step, resume, then the loop -- train, log, checkpoint, evaluate -- and at the
// end the final checkpoint and the HF export. RunTrainJob (train_job.h) is Trainer(...).Run().
//
// The steps live in files of one idea each: trainer.cc (set-up, model, data, step, the loop and
// logging), trainer_checkpoint.cc (resume and checkpoint writing), trainer_eval.cc (validation
// losses and sample images), trainer_export.cc (the HF export at the end).
#pragma once

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/job_spec.h"
#include "contract/exit_code.h"
#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/config/bagel_config.h"
#include "model/vae/flux_vae.h"
#include "worker/checkpoint/checkpoint_store.h"
#include "worker/checkpoint/checkpoint_writer.h"
#include "worker/data/datasets/training_data_stream.h"
#include "worker/data/demo_data.h"
#include "worker/dist/communicator.h"
#include "worker/dist/dist_env.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/eval_samples.h"
#include "worker/trainer/progress_reporter.h"
#include "worker/trainer/sharded_step.h"
#include "worker/trainer/train_job.h"

namespace bagel::tensorboard {
class TrainingRunLog;
}

namespace bagel::train {

class Trainer {
 public:
  // Sets up the rank and builds everything (model, data, step) and resumes; c10::Error for what
  // the spec's files refuse.
  Trainer(const config::JobSpec& spec, const TrainJobOptions& options);
  ~Trainer();

  // The loop to the last step, then the final checkpoint and the export; the exit status.
  contract::ExitCode Run();

 private:
  // --- set-up and init (trainer.cc) ---
  void SetUpRank();
  void BuildModel();
  void BuildData();
  void BuildStep();
  std::unique_ptr<data::TrainingDataStream> MakeStream(std::vector<config::DataGroupSpec> groups,
                                                       uint64_t seed, int64_t loader_threads);
  // --- the loop (trainer.cc) ---
  bool StopAgreed();
  PackedBatch NextBatch();
  void LogStep(const StepReport& report, double seconds);
  // --- checkpoints (trainer_checkpoint.cc) ---
  struct ResumeSource {
    std::string dir;
    nlohmann::json state;  // train_state.json
    bool own_only = true;  // this rank's file alone (same geometry), else every rank's
    std::vector<std::map<std::string, at::Tensor>> shards;  // read and verified
  };
  std::optional<ResumeSource> FindResumeSource();
  void Resume();
  // Saves the state at a step boundary (synchronously, or snapshots it for the background
  // writer); ReportCheckpoints emits the checkpoint lines of those published since;
  // FinishCheckpoints waits for the one in flight first.
  void WriteCheckpoint(int64_t at_step);
  void ReportCheckpoints();
  void FinishCheckpoints();
  // --- evaluation (trainer_eval.cc) ---
  void Evaluate(int64_t at_step);
  // --- the TensorBoard run (trainer_tensorboard.cc) ---
  void OpenTensorBoardRun();
  // --- the end (trainer_export.cc) ---
  std::string ExportHf();

  const config::JobSpec& spec_;
  const TrainJobOptions& options_;
  dist::DistEnv env_;
  at::Device device_ = at::kCPU;
  std::unique_ptr<ProgressReporter> progress_;
  std::unique_ptr<tensorboard::TrainingRunLog> tensorboard_;  // rank 0
  std::shared_ptr<dist::Communicator> world_;
  int stage_ = 1;

  BagelConfig config_;
  std::shared_ptr<BagelForUnifiedMultimodal> model_;
  fsdp::FsdpOptions fsdp_options_;
  std::unique_ptr<fsdp::FsdpEngine> engine_;
  std::shared_ptr<vae::FluxVae> vae_;
  // LoRA: the adapted modules and what the adapters were trained on (checked on resume).
  std::vector<std::string> lora_modules_;
  nlohmann::json lora_base_;

  std::string tokenizer_dir_;
  std::optional<EvalSampleOptions> eval_samples_;
  data::SpecialTokens tokens_;
  data::PackerConfig packer_;
  data::DemoDataOptions demo_options_;
  std::unique_ptr<data::DemoData> demo_;
  std::unique_ptr<data::TrainingDataStream> stream_;  // when the spec names datasets
  bool eval_datasets_ = false;

  StepHyper hyper_;
  std::unique_ptr<ShardedStep> step_;
  uint64_t rank_seed_ = 0;
  std::optional<at::Generator> noise_gen_, vae_gen_;

  std::string job_dir_;
  std::unique_ptr<ckpt::CheckpointStore> store_;
  std::unique_ptr<ckpt::CheckpointWriter> checkpoints_;
  std::string config_hash_;
  int64_t last_checkpoint_ = -1;
};

}  // namespace bagel::train
