// The batch file of tests/golden/README.md: a safetensors file whose tensor names are the
// forward's argument names; lists are 1-D int64 tensors, attn_modes codes (0 causal, 1 full,
// 2 noise), patchified_vae_latent_shapes [n, 2], sequence_length 0-d, dense masks as
// nested_attention_masks.<i>, injected flow-matching noise as `noise`.
#pragma once

#include <map>
#include <string>

#include "model/bagel/packed_batch.h"

namespace bagel {

// Builds a batch from named tensors; `source` names the file in errors. Unknown names are
// ignored (other commands' inputs, e.g. vae.image).
PackedBatch PackedBatchFromTensors(const std::map<std::string, at::Tensor>& tensors,
                                   const std::string& source);
PackedBatch ReadPackedBatch(const std::string& path);

std::map<std::string, at::Tensor> PackedBatchToTensors(const PackedBatch& batch);
void WritePackedBatch(const PackedBatch& batch, const std::string& path);

}  // namespace bagel
