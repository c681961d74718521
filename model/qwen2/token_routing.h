// Hard Mixture-of-Transformers routing of one packed sequence: which tokens the understanding
// expert computes (text and ViT tokens) and which the generation expert computes (VAE latent
// tokens). There is no learned router (BAGEL.md §1.4).
//
// Two equivalent layouts of the hidden states between the language model's layers:
//  - sequence order (the default, as the official code): every expert input is gathered with
//    index_select and every expert output scattered back (Merge), several times per layer;
//  - grouped order (`grouped`): the model permutes the hidden states once on entry to
//    [understanding rows; generation rows], so expert inputs are slices and Merge a
//    concatenation; only the attention sees sequence order (ToSequence / ToGrouped around it),
//    and the model permutes back once on exit. Same values, fewer gathers and scatters.
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace bagel {

struct TokenRouting {
  at::Tensor und;  // [Nu] int64 positions
  at::Tensor gen;  // [Ng] int64 positions
  // freeze_und (BAGEL.md §2.7): detach every understanding-path activation.
  bool freeze_und = false;
  // Positions -> row of cat(und, gen); set when und and gen cover the sequence, so expert
  // outputs merge with one gather instead of two scatters.
  at::Tensor merge_index;
  // Row of cat(und, gen) -> position: cat(und, gen), set with merge_index.
  at::Tensor group_order;
  // Hidden states are in grouped order (only when merge_index is set).
  bool grouped = false;

  // Builds the routing and, when the two sets partition [0, num_tokens), the merge index.
  // `grouped` asks for the grouped layout; it is used only when the sets partition the sequence.
  // `is_partition`, when the caller knows it on the host, spares a read of the device.
  static TokenRouting Make(const at::Tensor& und, const at::Tensor& gen, int64_t num_tokens,
                           bool freeze_und, bool grouped = false,
                           std::optional<bool> is_partition = std::nullopt);

  // The understanding / generation rows of x (a slice in grouped order, a gather otherwise).
  at::Tensor Und(const at::Tensor& x) const;
  at::Tensor Gen(const at::Tensor& x) const;

  // Puts und_rows (for `und`) and gen_rows (for `gen`) back in this routing's layout: [N, ...].
  // In sequence order, positions in neither set are zero.
  at::Tensor Merge(const at::Tensor& und_rows, const at::Tensor& gen_rows,
                   int64_t num_tokens) const;

  // Between this routing's layout and sequence order (identities unless grouped).
  at::Tensor ToSequence(const at::Tensor& x) const;
  at::Tensor ToGrouped(const at::Tensor& x) const;
};

}  // namespace bagel
