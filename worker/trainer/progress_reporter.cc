#include "worker/trainer/progress_reporter.h"

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>

namespace bagel::train {

ProgressReporter::ProgressReporter(int rank, int64_t total_steps)
    : rank_(rank), total_steps_(total_steps), tty_(isatty(fileno(stderr)) != 0) {}

void ProgressReporter::Emit(const contract::ProgressLine& event) {
  using Kind = contract::ProgressLine::Kind;
  if (rank_ != 0 && event.kind != Kind::kStarted && event.kind != Kind::kError) return;
  std::string line = contract::FormatProgressLine(event);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
  if (!sink_) return;
  try {
    sink_(event);
  } catch (const std::exception& e) {
    sink_ = nullptr;
    Log(std::string("warning: the TensorBoard log stops here: ") + e.what());
  }
}

void ProgressReporter::Log(const std::string& line) {
  std::string out = (tty_ ? "\r\033[K" : "") +
                    (world_size_ > 1 ? "[rank " + std::to_string(rank_) + "] " : "") + line + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

void ProgressReporter::Step(const contract::ProgressLine& e) {
  Emit(e);
  if (rank_ != 0) return;
  const int64_t step = e.step;
  char text[256];
  std::snprintf(text, sizeof(text),
                "step %lld/%lld ce %.4f mse %.4f lr %.3g grad_norm %.3f %.0f tok/s",
                static_cast<long long>(step), static_cast<long long>(total_steps_), e.ce, e.mse,
                e.lr, e.grad_norm, e.tokens_per_s);
  if (tty_) {
    const int width = 24;
    const int done = total_steps_ > 0 ? static_cast<int>(width * step / total_steps_) : width;
    std::string bar(done, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[K[%s] %s", bar.c_str(), text);
    if (step == total_steps_) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "%s\n", text);
  }
  std::fflush(stderr);
}

}  // namespace bagel::train
