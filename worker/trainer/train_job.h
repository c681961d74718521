// One rank of one training job: the recipe of docs/TRAINER_CONTRACT.md -- build the model,
// shard it, resume from the newest complete checkpoint, train with periodic checkpoints and
// validation, export, report progress -- behind `bagel-train --spec`.
#pragma once

#include <string>

#include "config/job_spec.h"

namespace bagel::train {

struct TrainJobOptions {
  std::string job_id = "local";
  int attempt = 0;
  std::string checkpoint_root = "./checkpoints";
  std::string resume = "auto";  // auto | none | a step directory
};

// Exit statuses (docs/TRAINER_CONTRACT.md).
inline constexpr int kExitDone = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitInvalidSpec = 2;
inline constexpr int kExitStopped = 3;
inline constexpr int kExitCollectiveFailed = 4;

// Runs this process's rank (RANK, WORLD_SIZE, ... from the environment) and returns its exit
// status; throws only for failures the caller maps (c10::Error, dist::CollectiveError).
int RunTrainJob(const config::JobSpec& spec, const TrainJobOptions& options);

}  // namespace bagel::train
