#include "worker/tensorboard/training_run_log.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "worker/tensorboard/event_file_writer.h"
#include "worker/tensorboard/png_header.h"

namespace bagel::tensorboard {
namespace {

using Kind = contract::ProgressLine::Kind;

// Markdown for the text plugin: the document as a code block (indented), kept as written.
std::string CodeBlock(const std::string& text) {
  std::string out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) out += "    " + line + "\n";
  return out;
}

bool ReadFile(const std::string& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *bytes = buffer.str();
  return static_cast<bool>(in) || in.eof();
}

}  // namespace

std::string SampleImageTag(size_t index, const std::string& prompt) {
  char number[16];
  std::snprintf(number, sizeof(number), "%02zu", index);
  std::string text;
  for (char c : prompt) {
    const bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '/';
    if (space && (text.empty() || text.back() == ' ')) continue;
    text.push_back(space ? ' ' : c);
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return "samples/" + std::string(number) + (text.empty() ? "" : " " + text);
}

TrainingRunLog::TrainingRunLog(const std::string& log_dir, TrainingRunInfo info)
    : info_(std::move(info)), writer_(std::make_unique<EventFileWriter>(log_dir)) {
  writer_->AddSessionStart(info_.first_step);
  if (!info_.spec_yaml.empty())
    writer_->AddText("job/spec", info_.first_step, CodeBlock(info_.spec_yaml));
  if (!info_.model_config_json.empty())
    writer_->AddText("model/config", info_.first_step, CodeBlock(info_.model_config_json));
  writer_->Flush();
}

TrainingRunLog::~TrainingRunLog() = default;

const std::string& TrainingRunLog::path() const { return writer_->path(); }

void TrainingRunLog::Flush() { writer_->Flush(); }

void TrainingRunLog::Record(const contract::ProgressLine& line) {
  EventFileWriter& w = *writer_;
  const int64_t step = line.step;
  switch (line.kind) {
    case Kind::kStep: {
      w.AddScalar("train/ce", step, line.ce);
      w.AddScalar("train/mse", step, line.mse);
      w.AddScalar("train/loss", step, info_.ce_weight * line.ce + info_.mse_weight * line.mse);
      w.AddScalar("train/lr", step, line.lr);
      w.AddScalar("train/grad_norm", step, line.grad_norm);
      w.AddScalar("perf/tokens_per_s", step, line.tokens_per_s);
      w.AddScalar("perf/step_time_s", step, line.step_time_s);
      w.AddScalar("perf/mfu", step, line.mfu);
      w.AddScalar("perf/mem_bytes", step, line.mem_bytes);
      w.AddScalar("perf/host_mem_bytes", step, line.host_mem_bytes);
      if (line.has_data_counts) {
        w.AddScalar("data/samples", step, static_cast<double>(line.data_samples));
        w.AddScalar("data/skipped", step, static_cast<double>(line.data_skipped));
        for (const auto& [reason, count] : line.data_skipped_by_reason)
          w.AddScalar("data/skipped/" + reason, step, static_cast<double>(count));
      }
      break;
    }
    case Kind::kEval: {
      if (line.val_ce) w.AddScalar("val/ce", step, *line.val_ce);
      if (line.val_mse) w.AddScalar("val/mse", step, *line.val_mse);
      if (line.sample_seconds) w.AddScalar("eval/sample_seconds", step, *line.sample_seconds);
      for (size_t i = 0; i < line.images.size(); ++i) {
        std::string png;
        if (!ReadFile(line.images[i], &png)) continue;
        const std::optional<PngHeader> header = ReadPngHeader(png);
        if (!header) continue;
        const std::string& prompt = i < info_.prompts.size() ? info_.prompts[i] : std::string();
        w.AddImage(SampleImageTag(i, prompt), step, png, header->height, header->width,
                   header->channels);
      }
      w.Flush();
      break;
    }
    case Kind::kCheckpoint:
      w.AddScalar("checkpoint/seconds", step, line.seconds);
      w.AddScalar("checkpoint/blocking_s", step, line.blocking_s);
      w.AddScalar("checkpoint/bytes", step, static_cast<double>(line.bytes));
      w.Flush();
      break;
    case Kind::kDone:
      w.Flush();
      break;
    default:
      break;
  }
}

}  // namespace bagel::tensorboard
