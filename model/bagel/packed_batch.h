// The inputs of one packed forward (BAGEL.md §2.1; the seed API's forward arguments): one
// packed sequence of `sequence_length` tokens holding several samples.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "model/attention/attention_layout.h"

namespace bagel {

struct PackedBatch {
  int64_t sequence_length = 0;
  at::Tensor packed_text_ids;      // [n_text] int64
  at::Tensor packed_text_indexes;  // [n_text] positions in [0, N)
  std::vector<int64_t> sample_lens;
  at::Tensor packed_position_ids;  // [N] RoPE positions
  // Either dense per-sample masks (non-flex path) or splits with modes (flex path).
  std::vector<at::Tensor> nested_attention_masks;
  std::vector<int64_t> split_lens;
  std::vector<AttnMode> attn_modes;

  // Understanding (ViT).
  at::Tensor packed_vit_tokens;         // [n_vit, p*p*3] patchified pixels
  at::Tensor packed_vit_token_indexes;  // [n_vit]
  at::Tensor packed_vit_position_ids;   // [n_vit] row*70 + col
  std::vector<int64_t> vit_token_seqlens;

  // Generation (VAE latents, Stage 2).
  at::Tensor padded_latent;  // [B, z, H/8, W/8], already VAE-encoded
  std::vector<std::pair<int64_t, int64_t>> patchified_vae_latent_shapes;  // (h, w) per image
  at::Tensor packed_latent_position_ids;  // [n_lat] row*max_latent_size + col
  at::Tensor packed_vae_token_indexes;    // [n_lat]
  at::Tensor packed_timesteps;            // [n_lat] raw (before sigmoid); -inf = clean
  at::Tensor mse_loss_indexes;            // positions with MSE
  at::Tensor noise;                       // [n_lat, p*p*z] injected flow-matching noise

  // Losses.
  at::Tensor ce_loss_indexes;  // positions with CE
  at::Tensor packed_label_ids;
  at::Tensor ce_loss_weights;  // accepted, not consumed by the model (as NeMo)

  bool has_vit() const { return packed_vit_tokens.defined() && packed_vit_tokens.size(0) > 0; }
  bool has_latents() const {
    return padded_latent.defined() && !patchified_vae_latent_shapes.empty();
  }
  bool has_ce() const { return ce_loss_indexes.defined() && ce_loss_indexes.numel() > 0; }

  // Facts about the index tensors, found on the host while the batch is still there (To() and
  // DeriveHostFacts), so the forward never reads the device to learn them: the MoT
  // understanding and generation tokens partition the sequence, and the smallest and largest CE
  // label. Unset: the forward checks on the device.
  std::optional<bool> routing_is_partition;
  std::optional<std::pair<int64_t, int64_t>> label_range;
  // Computes the facts from CPU tensors (a no-op for those already on a device).
  void DeriveHostFacts();

  // The attention layout: nested masks when present, else splits and modes.
  AttentionLayout Layout() const;
  // A copy with every tensor on `device` (and float tensors in `dtype` when given).
  PackedBatch To(const at::Device& device,
                 at::ScalarType float_dtype = at::ScalarType::Undefined) const;
  // Checks shapes, dtypes, index ranges and list consistency; throws naming the field.
  void Validate(int64_t vocab_size) const;
};

}  // namespace bagel
