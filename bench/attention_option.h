// The benchmarks' --attention option (auto | split | varlen, model/attention/packed_attention.h):
// the path for this process and the ranks it launches, and a line saying which kernel ran.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "model/config/bagel_config.h"

namespace bagel::bench {

// Sets the attention path here and in BAGEL_ATTENTION for child processes; throws on a bad name.
void ApplyAttentionOption(const std::string& name);

// "llm=<kernel> vit=<kernel>" for the model's head sizes on `device` in `dtype` ("flash-varlen",
// "varlen-reference" or "sdpa-split").
std::string AttentionKernels(const BagelConfig& config, const at::Device& device,
                             at::ScalarType dtype);

}  // namespace bagel::bench
