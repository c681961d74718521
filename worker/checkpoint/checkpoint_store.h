// Training checkpoints on a shared filesystem, in the layout of contract/checkpoint_layout.h
// (step-<N>/ with every rank's shard file, train_state.json and MANIFEST.json; LATEST; PINNED).
//
// Writing is collective: files go to step-<N>.staging/, each rank hashes its own file, rank 0
// writes train_state.json and then MANIFEST.json, renames the directory into place and replaces
// LATEST; a crash at any point leaves the previous complete checkpoint untouched. A directory
// without a valid manifest is never loaded, and a published step is never overwritten.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "worker/dist/communicator.h"

namespace bagel::ckpt {

struct WriteResult {
  std::string path;   // the published step directory
  int64_t bytes = 0;  // all files
  double seconds = 0;
  std::vector<std::string> pruned;
};

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string job_dir) : job_dir_(std::move(job_dir)) {}
  const std::string& job_dir() const { return job_dir_; }

  // Collective over `world`: every rank passes its shard tensors and string metadata (data
  // position, RNG state); rank 0 also passes `train_state` (the per-rank metadata is merged in
  // as "ranks"). Keeps the newest `keep_last` step directories, never the one LATEST names or
  // any listed in PINNED.
  WriteResult Write(dist::Communicator& world, int64_t step,
                    const std::map<std::string, at::Tensor>& tensors,
                    const std::map<std::string, std::string>& rank_metadata,
                    nlohmann::json train_state, int64_t keep_last);

  // Throws c10::Error naming the problem unless `step_dir` holds a manifest whose every file
  // exists with the recorded size and SHA-256 (and a train_state.json and all rank files).
  static void Validate(const std::string& step_dir);

  // The newest complete checkpoint: LATEST's target, else the newest valid step directory.
  // Every candidate that fails validation is described in `problems`.
  std::optional<std::string> FindLatestComplete(std::vector<std::string>* problems = nullptr) const;

  // Collective: rank 0 validates and picks the checkpoint to resume from; every rank gets the
  // same answer (nullopt: start fresh).
  std::optional<std::string> ResolveResume(dist::Communicator& world,
                                           std::vector<std::string>* problems = nullptr) const;

  static nlohmann::json ReadTrainState(const std::string& step_dir);

 private:
  std::vector<int64_t> PublishedSteps() const;
  std::vector<std::string> Prune(int64_t keep_last) const;

  std::string job_dir_;
};

}  // namespace bagel::ckpt
