// Inference reference cases (tests/golden/README.md, "Inference cases"): a case.json naming
// the task (t2i, edit, und) and the sampler settings, and a batch file with the prompt ids, the
// images at their final size and the injected noises. Runs the official call sequence
// (interleave_inference for [image?, text]) and returns what the case's expected file holds:
// `latent` and `image` (the VAE decode, before the uint8 conversion), or `ids` and
// `first_logits`.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>

#include "model/inference/interleave_inference.h"

namespace bagel {

struct InferCaseSpec {
  std::string task;  // t2i, edit, und
  SpecialTokens tokens;
  ImageGenerationOptions image;               // t2i, edit
  int64_t image_height = 0, image_width = 0;  // t2i
  int max_length = 0;                         // und
};

// Parses a case.json; throws naming the file and field when one is missing or invalid.
InferCaseSpec ReadInferCaseSpec(const std::string& case_json_path);

struct InferCaseOptions {
  std::string device = "cpu";
  at::ScalarType dtype = at::kFloat;
  std::optional<int> stage;
};

// Loads the checkpoint (and its ae.safetensors for t2i / edit), runs the case and returns its
// outputs on the CPU (float32; ids int64).
std::map<std::string, at::Tensor> RunInferCase(const std::string& checkpoint_dir,
                                               const std::string& batch_path,
                                               const std::string& case_json_path,
                                               const InferCaseOptions& options = {});

}  // namespace bagel
