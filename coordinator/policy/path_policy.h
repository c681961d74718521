// Confines the paths a job spec names to the configured roots (the data roots and the checkpoint
// root): a path must be absolute and, after normalisation and after resolving the symbolic links
// of the part that exists, lie under one of them. A spec can therefore not make a trainer read
// /etc/shadow or another user's files outside the roots.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "config/job_spec.h"

namespace bagel::coord {

class PathPolicy {
 public:
  explicit PathPolicy(std::vector<std::string> roots);

  // OK when `path` lies under a root; otherwise INVALID_ARGUMENT naming `field`, the path and
  // the roots.
  absl::Status Check(const std::string& field, const std::string& path) const;
  // True when `path` lies under a root.
  bool Allowed(const std::string& path) const;

  const std::vector<std::string>& roots() const { return roots_; }

 private:
  std::vector<std::string> roots_;  // normalised, symlinks resolved
};

// Every path a spec names, as (field path, value): model.init_from.path, model.vae,
// data.tokenizer, data.groups[i].paths[j], image_root, parquet_info, eval.dataset.*.
std::vector<std::pair<std::string, std::string>> SpecPaths(const config::JobSpec& spec);

// Checks every path of the spec; INVALID_ARGUMENT lists each offending field, one per line.
absl::Status CheckSpecPaths(const config::JobSpec& spec, const PathPolicy& policy);

}  // namespace bagel::coord
