// Training checkpoints on a shared filesystem, in the layout of contract/checkpoint_layout.h
// (step-<N>/ with every rank's shard file, train_state.json and MANIFEST.json; LATEST; PINNED).
//
// Writing: files go to step-<N>.staging/, each rank hashes its own file while writing it, rank 0
// writes train_state.json and then MANIFEST.json, renames the directory into place and replaces
// LATEST; a crash at any point leaves the previous complete checkpoint untouched. A directory
// without a valid manifest is never loaded, and a published step is never overwritten. The
// ranks agree through the rendezvous store (Communicator::Post/Await), never through
// collectives, so a rank's part can be written on a background thread while training goes on
// (checkpoint_writer.h).
//
// Reading: CheckManifest checks what is cheap (manifest, sizes, train_state.json); each rank
// then reads the files it needs once, hashing them as they are read (ReadVerified).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/io/safetensors.h"
#include "worker/dist/communicator.h"

namespace bagel::ckpt {

struct WriteResult {
  std::string path;   // the published step directory
  int64_t bytes = 0;  // all files
  double seconds = 0;
  std::vector<std::string> pruned;
};

// One rank's part of a checkpoint, owned (host tensors that nothing else writes to).
struct RankSnapshot {
  int64_t step = 0;
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> metadata;  // this rank's (data position, RNG state)
  nlohmann::json train_state;                   // rank 0: the job-level state
  int64_t keep_last = 1;
};

// A file the manifest lists.
struct ManifestFile {
  int64_t bytes = 0;
  std::string sha256;
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

  // One rank's part of a checkpoint (every rank of `world` calls it for the same step, in the
  // same order, from any one thread): its shard file, hashed as it is written; rank 0 then
  // publishes. Blocking; uses no collective. Throws c10::Error (or CollectiveError) when this or
  // another rank failed.
  WriteResult WriteRank(dist::Communicator& world, const RankSnapshot& snapshot);

  // Throws c10::Error naming the problem unless `step_dir` holds a manifest whose every file
  // exists with the recorded size and SHA-256 (and a train_state.json and all rank files).
  static void Validate(const std::string& step_dir);
  // The cheap part of Validate: the manifest, every listed file present with its size, and
  // train_state.json's hash. Returns the listed files by name.
  static std::map<std::string, ManifestFile> CheckManifest(const std::string& step_dir);
  // Reads `name` of `step_dir` once, hashing it on the way, and parses it from memory; throws
  // c10::Error naming the file when its size or SHA-256 is not the manifest's.
  static std::shared_ptr<io::SafetensorsFile> ReadVerified(const std::string& step_dir,
                                                           const std::string& name,
                                                           const ManifestFile& expected);

  // The newest complete checkpoint: LATEST's target, else the newest valid step directory.
  // Every candidate that fails validation is described in `problems`. `full`: every file hashed
  // (Validate); else only CheckManifest, leaving the rank files to ReadVerified.
  std::optional<std::string> FindLatestComplete(std::vector<std::string>* problems = nullptr,
                                                bool full = true) const;
  // The complete checkpoints (CheckManifest), newest first: LATEST's target, then by step.
  std::vector<std::string> CandidatesNewestFirst(
      std::vector<std::string>* problems = nullptr) const;

  // Collective: rank 0 validates and picks the checkpoint to resume from; every rank gets the
  // same answer (nullopt: start fresh).
  std::optional<std::string> ResolveResume(dist::Communicator& world,
                                           std::vector<std::string>* problems = nullptr) const;

  static nlohmann::json ReadTrainState(const std::string& step_dir);

 private:
  std::vector<int64_t> PublishedSteps() const;
  std::vector<std::string> Prune(int64_t keep_last) const;
  // Rank 0: waits for every rank's digest, writes train_state.json and the manifest, renames the
  // step into place, replaces LATEST, prunes, and posts the result.
  void Publish(dist::Communicator& world, const RankSnapshot& snapshot, const std::string& prefix,
               const nlohmann::json& own_digest, WriteResult& result);

  std::string job_dir_;
  int64_t writes_ = 0;  // WriteRank calls: every rank counts the same, keying the agreement
};

}  // namespace bagel::ckpt
