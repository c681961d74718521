// What bagel-forward does (../shared/golden/README.md), as a function the tests call too:
// load a checkpoint, run the training forward on a batch file, and return ce, mse, the scalar
// loss = ce.mean() + mse.mean(-1).mean() and the gradient of that loss for requested keys.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bagel {

struct ForwardCaseOptions {
  std::optional<int> stage;            // default: config.json's (2 if visual_gen else 1)
  std::vector<std::string> grad_keys;  // checkpoint key names
  std::string device = "cpu";
  at::ScalarType dtype = at::kFloat;
  bool strict = true;
};

std::map<std::string, at::Tensor> RunForwardCase(const std::string& checkpoint_dir,
                                                 const std::string& batch_path,
                                                 const ForwardCaseOptions& options);

}  // namespace bagel
