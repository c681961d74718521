// Hard Mixture-of-Transformers routing of one packed sequence: which tokens the understanding
// expert computes (text and ViT tokens) and which the generation expert computes (VAE latent
// tokens). There is no learned router (BAGEL.md §1.4).
#pragma once

#include <ATen/ATen.h>

namespace bagel {

struct TokenRouting {
  at::Tensor und;  // [Nu] int64 positions
  at::Tensor gen;  // [Ng] int64 positions
  // freeze_und (BAGEL.md §2.7): detach every understanding-path activation.
  bool freeze_und = false;
  // Positions -> row of cat(und, gen); set when und and gen cover the sequence, so expert
  // outputs merge with one gather instead of two scatters.
  at::Tensor merge_index;

  // Builds the routing and, when the two sets partition [0, num_tokens), the merge index.
  static TokenRouting Make(const at::Tensor& und, const at::Tensor& gen, int64_t num_tokens,
                           bool freeze_und);

  // Puts und_rows (for `und`) and gen_rows (for `gen`) back in sequence order: [N, ...].
  // Positions in neither set are zero.
  at::Tensor Merge(const at::Tensor& und_rows, const at::Tensor& gen_rows,
                   int64_t num_tokens) const;
};

}  // namespace bagel
