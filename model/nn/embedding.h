// A lookup table. padding_idx, when set, keeps that row's gradient at zero, as nn.Embedding
// does (Qwen2 builds embed_tokens with padding_idx = pad_token_id).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <optional>

namespace bagel::nn {

class Embedding : public torch::nn::Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, std::optional<int64_t> padding_idx,
            const at::TensorOptions& options)
      : padding_idx_(padding_idx) {
    weight = register_parameter("weight", at::empty({num_embeddings, dim}, options));
  }

  // ids: [...] int64 -> [..., dim]
  at::Tensor Forward(const at::Tensor& ids) const {
    return at::embedding(weight, ids, padding_idx_.value_or(-1));
  }

  const std::optional<int64_t>& padding_idx() const { return padding_idx_; }

  at::Tensor weight;  // [num_embeddings, dim]

 private:
  std::optional<int64_t> padding_idx_;
};

}  // namespace bagel::nn
