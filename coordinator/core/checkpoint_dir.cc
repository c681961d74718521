#include "coordinator/core/checkpoint_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "contract/checkpoint_layout.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;

// Visits every (file name, size) entry a manifest lists; the trainer's manifest is
// {"files": [{"path"|"name": ..., "size"|"bytes": ...}, ...]} or {"files": {name: {size}}}.
template <typename F>
bool ForEachManifestFile(const nlohmann::json& m, F&& f) {
  auto it = m.find("files");
  if (it == m.end()) return true;  // a manifest without a file list: trust its presence
  auto size_of = [](const nlohmann::json& e) -> int64_t {
    for (const char* k : {"size", "bytes"}) {
      auto s = e.find(k);
      if (s != e.end() && s->is_number_integer()) return s->get<int64_t>();
    }
    return -1;
  };
  if (it->is_array()) {
    for (const auto& e : *it) {
      if (!e.is_object()) return false;
      std::string name;
      for (const char* k : {"path", "name", "file"}) {
        auto n = e.find(k);
        if (n != e.end() && n->is_string()) name = n->get<std::string>();
      }
      if (name.empty() || !f(name, size_of(e))) return false;
    }
    return true;
  }
  if (it->is_object()) {
    for (const auto& [name, e] : it->items()) {
      if (!f(name, e.is_object() ? size_of(e)
                                 : (e.is_number_integer() ? e.template get<int64_t>() : -1))) {
        return false;
      }
    }
    return true;
  }
  return false;
}

}  // namespace

bool IsCompleteCheckpoint(const std::string& step_dir, int64_t* bytes) {
  std::ifstream in(fs::path(step_dir) / contract::kManifestFile);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  const auto m = nlohmann::json::parse(ss.str(), nullptr, false);
  if (m.is_discarded() || !m.is_object()) return false;
  int64_t total = 0;
  const bool ok = ForEachManifestFile(m, [&](const std::string& name, int64_t size) {
    if (name.find("..") != std::string::npos) return false;
    std::error_code ec;
    const auto actual = fs::file_size(fs::path(step_dir) / name, ec);
    if (ec) return false;
    if (size >= 0 && static_cast<int64_t>(actual) != size) return false;
    total += static_cast<int64_t>(actual);
    return true;
  });
  if (ok && bytes) *bytes = total;
  return ok;
}

std::vector<CheckpointOnDisk> ScanCheckpoints(const std::string& job_dir) {
  std::vector<CheckpointOnDisk> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(job_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::optional<int64_t> step = contract::StepOfDirName(name);
    if (!step || !entry.is_directory(ec)) continue;
    CheckpointOnDisk c;
    if (!IsCompleteCheckpoint(entry.path().string(), &c.bytes)) continue;
    c.step = *step;
    c.path = entry.path().string();
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

std::string ReadLatest(const std::string& job_dir) {
  std::ifstream in(fs::path(job_dir) / contract::kLatestFile);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

absl::Status WritePinned(const std::string& job_dir, const std::vector<std::string>& names) {
  const std::string pinned(contract::kPinnedFile);
  std::error_code ec;
  fs::create_directories(job_dir, ec);
  const fs::path tmp = fs::path(job_dir) / ("." + pinned + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp.string()));
    for (const auto& n : names) out << n << "\n";
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp.string()));
  }
  fs::rename(tmp, fs::path(job_dir) / pinned, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", pinned, " in ", job_dir));
  return absl::OkStatus();
}

}  // namespace bagel::coord
