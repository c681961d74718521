// bagel-train-replay (tests/golden/README.md, "Training-step cases"): replays recorded
// training steps -- W ranks on Gloo, sharded exactly as real training shards, float32 -- and
// writes the per-micro-step losses, per-step lr and grad norm, and the final parameters and EMA
// of the trainable parameters.
#pragma once

#include <string>

namespace bagel::train {

struct ReplayOptions {
  std::string checkpoint;  // HF-layout checkpoint directory
  std::string batches;     // step<s>.micro<m>.rank<r>.safetensors
  std::string train_json;
  std::string out;
  int shard_group_size = 0;  // 0: full sharding over the world
};

// Runs this process's rank (RANK/WORLD_SIZE from the environment; one rank without them).
// Rank 0 writes `out`.
void RunReplayRank(const ReplayOptions& options);

// The world size train.json asks for.
int ReplayWorldSize(const std::string& train_json);

}  // namespace bagel::train
