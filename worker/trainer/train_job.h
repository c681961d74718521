// One rank of one training job: the recipe of contract/TRAINER_CONTRACT.md -- build the model,
// shard it, resume from the newest complete checkpoint, train with periodic checkpoints and
// validation, export, report progress -- behind `bagel-train --spec` (the steps: trainer.h).
#pragma once

#include <string>

#include "config/job_spec.h"
#include "contract/exit_code.h"

namespace bagel::train {

struct TrainJobOptions {
  std::string job_id = "local";
  int attempt = 0;
  std::string checkpoint_root = "./checkpoints";
  std::string resume = "auto";  // auto | none | a step directory
};

// Runs this process's rank (RANK, WORLD_SIZE, ... from the environment) and returns how it
// ended (kDone or kStopped); throws for the failures the caller maps to the other statuses
// (c10::Error, dist::CollectiveError).
contract::ExitCode RunTrainJob(const config::JobSpec& spec, const TrainJobOptions& options);

}  // namespace bagel::train
