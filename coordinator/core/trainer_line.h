// One JSON progress line of bagel-train's stdout (docs/TRAINER_CONTRACT.md), decoded. Unknown
// fields are ignored, as the contract requires; unknown events decode as kOther.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace bagel::coord {

struct TrainerLine {
  enum class Kind { kStarted, kStep, kCheckpoint, kEval, kDone, kError, kOther };
  Kind kind = Kind::kOther;
  std::string event;  // as written
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t rank = 0;
  int64_t world_size = 0;
  double ce = 0, mse = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, step_time_s = 0, mfu = 0;
  int64_t tokens = 0, mem_bytes = 0;
  double val_ce = 0, val_mse = 0;
  std::string path;              // checkpoint
  int64_t bytes = 0;             // checkpoint
  double seconds = 0;            // checkpoint
  std::string final_checkpoint;  // done
  std::string hf_export;         // done
  std::string message;           // error
};

// INVALID_ARGUMENT when the line is not a JSON object with a string "event".
absl::StatusOr<TrainerLine> ParseTrainerLine(std::string_view line);

}  // namespace bagel::coord
