#include "coordinator/policy/path_policy.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;

// Lexically normal, with the symlinks of the longest existing prefix resolved.
std::string Resolve(const std::string& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::path(p).lexically_normal(), ec);
  if (ec) r = fs::path(p).lexically_normal();
  std::string s = r.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool Under(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

void AddGroup(const config::DataGroupSpec& g, const std::string& base,
              std::vector<std::pair<std::string, std::string>>& out) {
  for (size_t j = 0; j < g.paths.size(); ++j) {
    out.emplace_back(absl::StrCat(base, ".paths[", j, "]"), g.paths[j]);
  }
  if (!g.image_root.empty()) out.emplace_back(base + ".image_root", g.image_root);
  if (!g.parquet_info.empty()) out.emplace_back(base + ".parquet_info", g.parquet_info);
}

}  // namespace

PathPolicy::PathPolicy(std::vector<std::string> roots) {
  for (const auto& r : roots) {
    if (!r.empty()) roots_.push_back(Resolve(r));
  }
}

bool PathPolicy::Allowed(const std::string& path) const {
  if (path.empty() || path.find('\0') != std::string::npos) return false;
  if (!fs::path(path).is_absolute()) return false;
  const std::string resolved = Resolve(path);
  for (const auto& root : roots_) {
    if (Under(resolved, root)) return true;
  }
  return false;
}

absl::Status PathPolicy::Check(const std::string& field, const std::string& path) const {
  if (Allowed(path)) return absl::OkStatus();
  const std::string shown = path.size() > 200 ? path.substr(0, 200) + "..." : path;
  if (!fs::path(path).is_absolute()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": got ", shown, ", expected an absolute path"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": got ", shown, ", expected a path under one of: ", absl::StrJoin(roots_, ", ")));
}

std::vector<std::pair<std::string, std::string>> SpecPaths(const config::JobSpec& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  if (spec.model.init_from.kind == config::InitFrom::Kind::kPath) {
    out.emplace_back("model.init_from.path", spec.model.init_from.path);
  }
  if (!spec.model.vae.empty()) out.emplace_back("model.vae", spec.model.vae);
  if (!spec.data.tokenizer.empty()) out.emplace_back("data.tokenizer", spec.data.tokenizer);
  for (size_t i = 0; i < spec.data.groups.size(); ++i) {
    AddGroup(spec.data.groups[i], absl::StrCat("data.groups[", i, "]"), out);
  }
  if (spec.eval.dataset) AddGroup(*spec.eval.dataset, "eval.dataset", out);
  return out;
}

absl::Status CheckSpecPaths(const config::JobSpec& spec, const PathPolicy& policy) {
  std::vector<std::string> problems;
  for (const auto& [field, path] : SpecPaths(spec)) {
    if (auto s = policy.Check(field, path); !s.ok()) problems.emplace_back(s.message());
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
}

}  // namespace bagel::coord
