#include "bench/attention_option.h"

#include <cstdlib>

#include "model/attention/packed_attention.h"

namespace bagel::bench {

void ApplyAttentionOption(const std::string& name) {
  SetAttentionPath(AttentionPathFromName(name));
  ::setenv("BAGEL_ATTENTION", name.c_str(), 1);
}

std::string AttentionKernels(const BagelConfig& config, const at::Device& device,
                             at::ScalarType dtype) {
  return "llm=" + AttentionKernelName(device, dtype, config.llm.head_dim()) +
         " vit=" + AttentionKernelName(device, dtype, config.vit.head_dim());
}

}  // namespace bagel::bench
