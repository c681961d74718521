// What KV-cache inference carries between segments (BAGEL.md §5.1): the cached keys and values of
// every decoder layer, the number of cached tokens and the next RoPE position -- the official
// gen_context {kv_lens, ropes, past_key_values} for one sequence -- and the four special token
// ids every segment builder needs.
//
// Segments never modify a context in place: each prefill returns a new one whose cache tensors
// are new, so copying a context (the official deepcopy for the CFG contexts) is cheap and safe.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace bagel {

struct KvCache {
  // Per layer: keys after q/k-norm and RoPE, values; [tokens, kv_heads, head_dim]. Empty
  // vectors (or undefined tensors) for an empty cache.
  std::vector<at::Tensor> keys, values;

  bool empty() const { return keys.empty() || !keys[0].defined(); }
  int64_t length() const { return empty() ? 0 : keys[0].size(0); }
};

struct InferenceContext {
  KvCache cache;
  int64_t kv_len = 0;  // tokens in the cache
  int64_t rope = 0;    // RoPE position of the next segment
};

// BAGEL's new_token_ids (data_utils.add_special_tokens): the text segment delimiters
// <|im_start|> / <|im_end|> ("bos" / "eos" in the official code) and the vision markers.
struct SpecialTokens {
  int64_t bos = 151644;             // <|im_start|>
  int64_t eos = 151645;             // <|im_end|>
  int64_t start_of_image = 151652;  // <|vision_start|>
  int64_t end_of_image = 151653;    // <|vision_end|>
};

}  // namespace bagel
