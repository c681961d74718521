#include "coordinator/bagelctl/format.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "contract/checkpoint_layout.h"

namespace bagel::ctl {

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string c = i < cells.size() ? cells[i] : "";
      l += c;
      if (i + 1 < width.size()) l += std::string(width[i] - c.size() + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

std::string HumanDuration(double s) {
  if (s < 0 || !std::isfinite(s)) return "-";
  const int64_t t = static_cast<int64_t>(s);
  if (t < 60) return absl::StrCat(t, "s");
  if (t < 3600) return absl::StrFormat("%dm%02ds", t / 60, t % 60);
  if (t < 86400) return absl::StrFormat("%dh%02dm", t / 3600, (t % 3600) / 60);
  return absl::StrFormat("%dd%02dh", t / 86400, (t % 86400) / 3600);
}

std::string HumanBytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(b, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string Age(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0) return "-";
  return HumanDuration(static_cast<double>(now_ms - unix_ms) / 1000.0);
}

std::string ProgressBar(int64_t step, int64_t total, int width) {
  const double f = total > 0 ? std::clamp(static_cast<double>(step) / total, 0.0, 1.0) : 0.0;
  width = std::max(width, 0);
  const int done = static_cast<int>(std::round(f * width));
  std::string bar = "[";
  bar.append(static_cast<size_t>(done), '#');
  bar.append(static_cast<size_t>(width - done), '.');
  bar += ']';
  return bar;
}

std::optional<double> EtaSeconds(const bagel::v1::Progress& p, double elapsed_s) {
  const int64_t left = p.total_steps() - p.step();
  if (p.total_steps() <= 0 || left < 0) return std::nullopt;
  if (left == 0) return 0.0;
  if (p.step_time_s() > 0) return p.step_time_s() * static_cast<double>(left);
  if (p.step() > 0 && elapsed_s > 0) return elapsed_s / p.step() * static_cast<double>(left);
  return std::nullopt;
}

std::string WatchLine(const bagel::v1::Job& job, double elapsed_s) {
  const auto& p = job.progress();
  const double pct = p.total_steps() > 0 ? 100.0 * p.step() / p.total_steps() : 0.0;
  std::string l =
      absl::StrFormat("%s %5.1f%% step %d/%d", ProgressBar(p.step(), p.total_steps(), 24), pct,
                      p.step(), p.total_steps());
  if (p.updated_unix_ms() > 0) {
    absl::StrAppend(&l, absl::StrFormat("  ce %.4f", p.ce()));
    if (job.stage() == 2 || p.mse() != 0)
      absl::StrAppend(&l, absl::StrFormat("  mse %.4f", p.mse()));
    absl::StrAppend(&l, absl::StrFormat("  %.0f tok/s", p.tokens_per_s()));
  }
  if (auto eta = EtaSeconds(p, elapsed_s)) absl::StrAppend(&l, "  ETA ", HumanDuration(*eta));
  return l;
}

std::string TensorBoardDir(const std::string& checkpoint_dir) {
  return (std::filesystem::path(checkpoint_dir) / std::string(contract::kTensorBoardDir)).string();
}

std::string TensorBoardLine(const std::string& checkpoint_dir) {
  const std::string dir = TensorBoardDir(checkpoint_dir);
  return dir + "  (tensorboard --logdir " + dir + ")";
}

std::string StateName(bagel::v1::JobState s) { return bagel::v1::JobState_Name(s); }

std::optional<bagel::v1::JobState> ParseState(const std::string& s) {
  std::string up = s;
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  bagel::v1::JobState st;
  if (!bagel::v1::JobState_Parse(up, &st) || st == bagel::v1::JOB_STATE_UNSPECIFIED) {
    return std::nullopt;
  }
  return st;
}

}  // namespace bagel::ctl
