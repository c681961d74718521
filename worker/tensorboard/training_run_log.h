// A training job's TensorBoard run: rank 0 of bagel-train hands it every progress line it emits
// (contract/progress_line.h) and it writes them as TensorBoard events in
// <checkpoint-root>/<job>/tensorboard/ (docs/METRICS.md, "TensorBoard"):
//
//   step        train/ce, train/mse, train/loss (the weighted objective), train/lr,
//               train/grad_norm, perf/tokens_per_s, perf/step_time_s, perf/mfu, perf/mem_bytes,
//               perf/host_mem_bytes, and with datasets data/samples, data/skipped and
//               data/skipped/<reason>
//   eval        val/ce, val/mse, eval/sample_seconds, and each sample image under
//               samples/<index> <prompt>
//   checkpoint  checkpoint/seconds, checkpoint/blocking_s, checkpoint/bytes (and a flush: what
//               a checkpoint keeps, the run keeps)
//   started     the job spec and the model config as text (job/spec, model/config)
//
// Every attempt opens a new event file in the same directory and starts it with SessionLog
// START at its first step, so TensorBoard drops the steps a killed attempt wrote past the
// checkpoint it resumes from: the run shows each step once. Free of LibTorch and gRPC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "contract/progress_line.h"

namespace bagel::tensorboard {

class EventFileWriter;

struct TrainingRunInfo {
  int64_t first_step = 1;  // the first step this attempt trains (a resume from step S: S + 1)
  std::string spec_yaml;
  std::string model_config_json;
  std::vector<std::string> prompts;  // eval.prompts, in the order of an eval line's images
  double ce_weight = 1.0, mse_weight = 1.0;
};

class TrainingRunLog {
 public:
  // Creates the directory and the attempt's event file; std::system_error naming it otherwise.
  TrainingRunLog(const std::string& log_dir, TrainingRunInfo info);
  ~TrainingRunLog();
  TrainingRunLog(const TrainingRunLog&) = delete;
  TrainingRunLog& operator=(const TrainingRunLog&) = delete;

  // The events of one progress line; kinds without any (error, done's flush aside) write nothing.
  // An image that cannot be read is left out (the line still names it).
  void Record(const contract::ProgressLine& line);
  void Flush();

  const std::string& path() const;

 private:
  TrainingRunInfo info_;
  std::unique_ptr<EventFileWriter> writer_;
};

// "samples/<index> <prompt>": the prompt on one line, at most 80 characters, so TensorBoard
// shows the images in one group, in prompt order, named by their prompts.
std::string SampleImageTag(size_t index, const std::string& prompt);

}  // namespace bagel::tensorboard
