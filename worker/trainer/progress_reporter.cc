#include "worker/trainer/progress_reporter.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace bagel::train {

ProgressReporter::ProgressReporter(int rank, int64_t total_steps)
    : rank_(rank), total_steps_(total_steps), tty_(isatty(fileno(stderr)) != 0) {}

void ProgressReporter::Emit(const nlohmann::json& event) {
  const std::string type = event.value("event", "");
  if (rank_ != 0 && type != "started" && type != "error") return;
  std::string line = event.dump();
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void ProgressReporter::Log(const std::string& line) {
  std::string out = (tty_ ? "\r\033[K" : "") +
                    (world_size_ > 1 ? "[rank " + std::to_string(rank_) + "] " : "") + line + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

void ProgressReporter::Step(const nlohmann::json& e) {
  Emit(e);
  if (rank_ != 0) return;
  const int64_t step = e.value("step", int64_t{0});
  char text[256];
  std::snprintf(text, sizeof(text),
                "step %lld/%lld ce %.4f mse %.4f lr %.3g grad_norm %.3f %.0f tok/s",
                static_cast<long long>(step), static_cast<long long>(total_steps_),
                e.value("ce", 0.0), e.value("mse", 0.0), e.value("lr", 0.0),
                e.value("grad_norm", 0.0), e.value("tokens_per_s", 0.0));
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
