// One JSON progress line of bagel-train's stdout (TRAINER_CONTRACT.md, "Progress"): the one
// formatter (the trainer's) and the one parser (the agent's metrics, the coordinator's job
// state). Each event kind carries its own fields; readers ignore fields they do not know, and
// an unknown event parses as kOther, so the trainer can add fields and events over time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bagel::contract {

struct ProgressLine {
  enum class Kind { kStarted, kStep, kCheckpoint, kEval, kDone, kError, kOther };
  Kind kind = Kind::kOther;
  std::string event;  // as written ("step", ...)

  int64_t step = 0;
  int64_t total_steps = 0;  // started, step

  // started (and error: rank)
  int64_t rank = 0;
  int64_t world_size = 0;
  int64_t attempt = 0;
  std::string device;

  // step
  double ce = 0, mse = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;
  double tokens_per_s = 0, step_time_s = 0, mfu = 0;
  double mem_bytes = 0, host_mem_bytes = 0;
  int64_t ce_tokens = 0, mse_tokens = 0;
  // Only when the job reads datasets: all ranks' packed samples and skipped records so far.
  bool has_data_counts = false;
  int64_t data_samples = 0, data_skipped = 0;
  std::map<std::string, int64_t> data_skipped_by_reason;

  // checkpoint: `seconds` from the snapshot to the publication (the write), `blocking_s` how
  // long the training loop waited for it (all of it when synchronous, the snapshot when not)
  std::string path;
  int64_t bytes = 0;
  double seconds = 0;
  double blocking_s = 0;

  // eval (val_ce / val_mse absent when the evaluation had no such loss)
  std::optional<double> val_ce, val_mse;
  std::vector<std::string> images;
  std::optional<double> sample_seconds;

  // done
  std::string final_checkpoint, hf_export;

  // error
  std::string message;
};

// The line (without the newline) for `line.kind`: "event" and that kind's fields only.
std::string FormatProgressLine(const ProgressLine& line);

// nullopt, with *why set when given, unless `text` is a JSON object with a string "event".
// Fields of the wrong type are left at their defaults.
std::optional<ProgressLine> ParseProgressLine(std::string_view text, std::string* why = nullptr);

// The event name of a kind ("step"; "" for kOther).
const char* EventName(ProgressLine::Kind kind);

}  // namespace bagel::contract
