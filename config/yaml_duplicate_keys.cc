#include "config/yaml_duplicate_keys.h"

#include <map>

namespace bagel::config {
namespace {

void Walk(const YAML::Node& node, const std::string& path, int depth,
          std::vector<DuplicateKey>& out) {
  if (depth > 64) return;  // deeper than any spec; yaml-cpp already bounds nesting
  if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "<non-scalar key>";
      const std::string child = path.empty() ? key : path + "." + key;
      const int line = kv.first.Mark().line + 1;
      if (auto [it, fresh] = first_line.emplace(key, line); !fresh) {
        out.push_back({child, it->second, line});
      }
      Walk(kv.second, child, depth + 1, out);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      Walk(node[i], path + "[" + std::to_string(i) + "]", depth + 1, out);
    }
  }
}

}  // namespace

std::vector<DuplicateKey> FindDuplicateKeys(const YAML::Node& root) {
  std::vector<DuplicateKey> out;
  Walk(root, "", 0, out);
  return out;
}

}  // namespace bagel::config
