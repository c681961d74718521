// Text decoding with the KV cache (BAGEL.md §5.3, the official generate_text): start from bos
// (<|im_start|>) at the context's next position; each step runs one causal token through the
// understanding expert, appends it to the cache and picks the next token from the lm_head logits
// (argmax, or a sample of softmax(logits / temperature)). Decoding stops when eos is predicted
// (not included) or when the sequence, counting the start token, holds max_length ids.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <optional>
#include <vector>

#include "model/inference/inference_model.h"

namespace bagel {

struct TextGenerationOptions {
  int max_length = 500;
  bool do_sample = false;
  double temperature = 1.0;
  std::optional<at::Generator> generator;  // for sampling; the default generator otherwise
  // Called after each decoding step with (ids so far, max_length).
  std::function<void(int, int)> progress;
};

struct TextGenerationResult {
  std::vector<int64_t> ids;  // starts with bos
  at::Tensor first_logits;   // [vocab] float32: the logits of the first step
};

TextGenerationResult GenerateText(const InferenceModel& model, const InferenceContext& context,
                                  const TextGenerationOptions& options = {});

}  // namespace bagel
