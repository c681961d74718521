// yaml-cpp keeps every entry of a mapping, a key written twice included, and a lookup finds only
// the first: a spec that sets `lr` twice would silently train with one of them. This walks a
// parsed document and names every key that a mapping holds more than once, with both lines.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace bagel::config {

struct DuplicateKey {
  std::string path;    // "train.lr", "data.groups[1].name"
  int first_line = 0;  // 1-based
  int second_line = 0;
};

// Every repeated key of every mapping under `root`, in document order.
std::vector<DuplicateKey> FindDuplicateKeys(const YAML::Node& root);

}  // namespace bagel::config
