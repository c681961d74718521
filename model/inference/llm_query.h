// One language-model pass over a query segment attending to a KV cache: the official
// Qwen2ForCausalLM.forward_inference (BAGEL.md §5.1) for a single sequence.
//
// Every query token attends to every cached token and, within the query, to all query tokens
// (non-causal: image and latent blocks) or to itself and earlier ones (causal: text; the
// bottom-right aligned mask of flash-attention). Experts: kUnderstanding runs every token through
// the understanding weights; kGeneration (MoT "gen" mode) runs `gen_rows` (latent tokens) through
// the *_moe_gen twins and `und_rows` (the vision markers) through the understanding weights,
// norms included. The returned hidden states are final-normalised (norm / norm_moe_gen).
// With `update_cache` the query's keys (after q/k-norm and RoPE) and values are appended.
#pragma once

#include <ATen/ATen.h>

#include "model/config/bagel_config.h"
#include "model/inference/inference_context.h"
#include "model/qwen2/qwen2_model.h"

namespace bagel {

enum class ExpertMode { kUnderstanding, kGeneration };

struct LlmQuery {
  at::Tensor embeddings;    // [q, hidden]
  at::Tensor position_ids;  // [q] int64 RoPE positions
  bool causal = false;
  ExpertMode mode = ExpertMode::kUnderstanding;
  // kGeneration only: rows of the query for each expert (together they cover the query).
  at::Tensor und_rows, gen_rows;  // int64
};

struct LlmQueryResult {
  at::Tensor hidden;  // [q, hidden], final-normalised
  KvCache cache;      // with the query appended; empty unless update_cache
};

// `config` is the model's (prepared) LLM config. Throws when a generation query meets a model
// without MoT layers or when the cache does not match the model's layers.
LlmQueryResult RunLlmQuery(const Qwen2Model& lm, const LlmConfig& config, const KvCache& cache,
                           const LlmQuery& query, bool update_cache);

}  // namespace bagel
