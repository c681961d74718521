// What bagel-forward does (tests/golden/README.md), as a function the tests call too:
// load a checkpoint, run the training forward on a batch file, and return ce, mse, the scalar
// loss = ce.mean() + mse.mean(-1).mean() and the gradient of that loss for requested keys.
//
// Two more kinds of case go through the same entry point: a batch holding `vae.image` /
// `vae.latent` runs the FLUX VAE of checkpoint/ae.safetensors (RunVaeCase), and with
// `infer_case` (a case.json) the batch is an inference case run by the KV-cache inference
// (model/inference/infer_case.h).
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
  // MoT routing in grouped order (BagelForUnifiedMultimodal::SetGroupedRouting).
  bool grouped_routing = false;
  // case.json of an inference case (--infer): run its task instead of the training forward.
  std::string infer_case;
  // When set, receives the dtype the model returned "ce" and "mse" in (before any conversion).
  std::map<std::string, at::ScalarType>* loss_dtypes = nullptr;
};

std::map<std::string, at::Tensor> RunForwardCase(const std::string& checkpoint_dir,
                                                 const std::string& batch_path,
                                                 const ForwardCaseOptions& options);

// The VAE case: loads <checkpoint_dir>/ae.safetensors (shape inferred, strict keys) and returns
// `vae.latent_mean` = scale * (posterior mean - shift) for `vae.image` [B, 3, H, W] and
// `vae.decoded` for `vae.latent` [B, z, h, w], whichever the batch holds.
std::map<std::string, at::Tensor> RunVaeCase(const std::string& checkpoint_dir,
                                             const std::map<std::string, at::Tensor>& batch,
                                             const std::string& batch_path,
                                             const ForwardCaseOptions& options);

}  // namespace bagel
