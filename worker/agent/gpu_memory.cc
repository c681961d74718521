#include "worker/agent/gpu_memory.h"

#include <stdio.h>
#include <sys/wait.h>

#include <array>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace bagel::agent {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

absl::StatusOr<std::vector<GpuMemory>> ParseNvidiaSmiMemory(const std::string& csv) {
  std::vector<GpuMemory> out;
  for (absl::string_view line : absl::StrSplit(csv, '\n', absl::SkipWhitespace())) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    GpuMemory g;
    double used = 0, total = 0;
    if (f.size() != 3 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(f[0]), &g.index) ||
        !absl::SimpleAtod(absl::StripAsciiWhitespace(f[1]), &used) ||
        !absl::SimpleAtod(absl::StripAsciiWhitespace(f[2]), &total) || used < 0 || total < 0) {
      return absl::InvalidArgumentError(absl::StrCat("nvidia-smi: cannot parse \"", line,
                                                     "\" (expected INDEX, USED_MIB, TOTAL_MIB)"));
    }
    g.used_bytes = static_cast<int64_t>(used * 1024 * 1024);
    g.total_bytes = static_cast<int64_t>(total * 1024 * 1024);
    out.push_back(g);
  }
  return out;
}

absl::StatusOr<std::vector<GpuMemory>> QueryGpuMemory(const std::string& nvidia_smi) {
  const std::string cmd = Quote(nvidia_smi) +
                          " --query-gpu=index,memory.used,memory.total"
                          " --format=csv,noheader,nounits 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return absl::UnavailableError("nvidia-smi: cannot start");
  std::string out;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat(nvidia_smi, " failed (no GPU or no driver)"));
  }
  return ParseNvidiaSmiMemory(out);
}

}  // namespace bagel::agent
