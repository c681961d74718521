// The layout of a job's checkpoint directory, shared by the trainer that writes it and the
// coordinator that reads it (TRAINER_CONTRACT.md, "Checkpoints"):
//
//   <root>/<job>/step-<N, at least 8 digits>/   one published checkpoint
//                  rank-<r>-of-<W>.safetensors     each rank's shards
//                  train_state.json                step, world size, per-rank state
//                  MANIFEST.json                   every file with size and SHA-256; written last
//   <root>/<job>/step-<N>.staging/               a checkpoint being written (never loaded)
//   <root>/<job>/LATEST                          "step-<N>", replaced atomically
//   <root>/<job>/PINNED                          step directories retention must keep, one a line
//   <root>/<job>/tensorboard/                    rank 0's TensorBoard event files, every attempt's
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bagel::contract {

inline constexpr std::string_view kLatestFile = "LATEST";
inline constexpr std::string_view kPinnedFile = "PINNED";
inline constexpr std::string_view kManifestFile = "MANIFEST.json";
inline constexpr std::string_view kTrainStateFile = "train_state.json";
inline constexpr std::string_view kStagingSuffix = ".staging";
inline constexpr std::string_view kCorruptSuffix = ".corrupt";  // a bad step set aside
inline constexpr std::string_view kTensorBoardDir = "tensorboard";

// "step-00000012"; steps past 99,999,999 take more digits.
std::string StepDirName(int64_t step);

// The step of a published step directory's name: "step-" then 8 to 18 digits and nothing else
// (so "step-00000012.staging", "step-12" and "step-x" are not); nullopt otherwise.
std::optional<int64_t> StepOfDirName(std::string_view name);

// "rank-3-of-8.safetensors".
std::string RankFileName(int rank, int world_size);

}  // namespace bagel::contract
