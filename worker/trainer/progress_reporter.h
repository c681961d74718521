// Progress of a training rank as contract/TRAINER_CONTRACT.md fixes it: one JSON object per line
// on stdout for the agent (contract/progress_line.h formats it; rank 0 emits every event, other
// ranks only "started" and "error"), and readable lines on stderr for people (a progress bar
// when stderr is a terminal).
#pragma once

#include <functional>
#include <string>

#include "contract/progress_line.h"

namespace bagel::train {

class ProgressReporter {
 public:
  ProgressReporter(int rank, int64_t total_steps);

  // Writes `line` as one line on stdout when this rank reports its kind.
  void Emit(const contract::ProgressLine& line);
  // A human-readable line on stderr (every rank, prefixed with the rank when there are many).
  void Log(const std::string& line);
  // A step line, plus a progress line/bar for people.
  void Step(const contract::ProgressLine& step);

  void set_world_size(int world_size) { world_size_ = world_size; }
  // Every line this rank emits also goes to `sink` (rank 0's TensorBoard run). A sink that
  // throws is dropped with a warning on stderr: the run's log never stops training.
  void set_sink(std::function<void(const contract::ProgressLine&)> sink) {
    sink_ = std::move(sink);
  }

 private:
  int rank_;
  int world_size_ = 1;
  int64_t total_steps_;
  bool tty_;
  std::function<void(const contract::ProgressLine&)> sink_;
};

}  // namespace bagel::train
