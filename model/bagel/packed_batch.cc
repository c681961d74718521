#include "model/bagel/packed_batch.h"

#include <c10/util/Exception.h>

#include <numeric>

#include "model/runtime/batched_transfer.h"

namespace bagel {
namespace {

void CheckIndexes(const at::Tensor& t, const char* name, int64_t n) {
  if (!t.defined()) return;
  TORCH_CHECK(t.dim() == 1, name, ": expected a 1-D tensor, got shape ", t.sizes());
  TORCH_CHECK(!t.is_floating_point(), name, ": expected integer positions, got ", t.scalar_type());
  if (t.numel() == 0) return;
  const int64_t lo = t.min().item<int64_t>(), hi = t.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < n, name, ": positions must lie in [0, ", n, "), got [", lo, ", ", hi,
              "]");
}

void CheckLength(const at::Tensor& t, const char* name, int64_t expected, const char* of) {
  TORCH_CHECK(t.defined(), name, " is required with ", of);
  TORCH_CHECK(t.size(0) == expected, name, " has ", t.size(0), " entries, expected ", expected,
              " (", of, ")");
}

at::Tensor Move(const at::Tensor& t, const at::Device& device, at::ScalarType float_dtype) {
  if (!t.defined()) return t;
  if (t.is_floating_point() && float_dtype != at::ScalarType::Undefined) {
    return t.to(device, float_dtype);
  }
  return t.to(device);
}

}  // namespace

AttentionLayout PackedBatch::Layout() const {
  if (!nested_attention_masks.empty()) {
    return AttentionLayout::FromNestedMasks(sample_lens, nested_attention_masks, sequence_length);
  }
  TORCH_CHECK(!split_lens.empty(),
              "the batch needs nested_attention_masks or split_lens with attn_modes");
  return AttentionLayout::FromSplits(sample_lens, split_lens, attn_modes, sequence_length);
}

void PackedBatch::DeriveHostFacts() {
  auto host = [](const at::Tensor& t) { return !t.defined() || t.is_cpu(); };
  if (host(packed_text_indexes) && host(packed_vit_token_indexes) &&
      host(packed_vae_token_indexes) && packed_text_indexes.defined()) {
    // Text and ViT tokens (understanding) and latent tokens (generation) each once.
    std::vector<char> seen(static_cast<size_t>(sequence_length), 0);
    bool partition = true;
    int64_t count = 0;
    for (const at::Tensor* t :
         {&packed_text_indexes, &packed_vit_token_indexes, &packed_vae_token_indexes}) {
      if (!t->defined()) continue;
      const at::Tensor idx = t->to(at::kLong).contiguous();
      const int64_t* p = idx.const_data_ptr<int64_t>();
      for (int64_t i = 0; i < idx.numel() && partition; ++i) {
        partition = p[i] >= 0 && p[i] < sequence_length && !seen[p[i]];
        if (partition) seen[p[i]] = 1;
      }
      count += idx.numel();
    }
    routing_is_partition = partition && count == sequence_length;
  }
  if (host(packed_label_ids) && packed_label_ids.defined() && packed_label_ids.numel() > 0) {
    const auto [lo, hi] = at::aminmax(packed_label_ids.to(at::kLong));
    label_range = std::make_pair(lo.item<int64_t>(), hi.item<int64_t>());
  }
}

PackedBatch PackedBatch::To(const at::Device& device, at::ScalarType float_dtype) const {
  PackedBatch b = *this;
  b.DeriveHostFacts();
  const std::vector<at::Tensor*> cast = {&b.packed_text_ids,
                                         &b.packed_text_indexes,
                                         &b.packed_position_ids,
                                         &b.packed_vit_tokens,
                                         &b.packed_vit_token_indexes,
                                         &b.packed_vit_position_ids,
                                         &b.packed_latent_position_ids,
                                         &b.packed_vae_token_indexes,
                                         &b.mse_loss_indexes,
                                         &b.ce_loss_indexes,
                                         &b.packed_label_ids,
                                         &b.ce_loss_weights};
  // Timesteps, the VAE latents and the flow-matching noise stay float32, as in the official
  // bf16 step (autocast leaves them float32: the VAE's posterior sample is float32), so x_t and
  // the velocity target are float32 and only the GEMMs that read them run in bf16.
  const std::vector<at::Tensor*> float32 = {&b.packed_timesteps, &b.padded_latent, &b.noise};
  // On a GPU: cast where the tensors are (the host), then every tensor of the batch in one
  // transfer the host does not wait for (each .to() from pageable memory would be a copy the
  // host waits for). Elsewhere each tensor moves and casts in one .to().
  const bool together = device.is_cuda();
  for (at::Tensor* t : cast) {
    if (t->defined()) *t = Move(*t, together ? t->device() : device, float_dtype);
  }
  for (at::Tensor* t : float32) {
    if (t->defined()) *t = t->to(together ? t->device() : device, at::kFloat);
  }
  if (together) {
    std::vector<at::Tensor*> all = cast;
    all.insert(all.end(), float32.begin(), float32.end());
    for (auto& m : b.nested_attention_masks) all.push_back(&m);
    TransferTogether(all, device);
  } else {
    for (auto& m : b.nested_attention_masks) m = m.to(device);
  }
  return b;
}

void PackedBatch::Validate(int64_t vocab_size) const {
  const int64_t n = sequence_length;
  TORCH_CHECK(n > 0, "sequence_length must be positive, got ", n);
  TORCH_CHECK(!sample_lens.empty(), "sample_lens is empty");
  TORCH_CHECK(packed_text_ids.defined() && packed_text_indexes.defined(),
              "packed_text_ids and packed_text_indexes are required");
  CheckLength(packed_text_indexes, "packed_text_indexes", packed_text_ids.numel(),
              "one per packed_text_ids entry");
  CheckIndexes(packed_text_indexes, "packed_text_indexes", n);
  if (packed_text_ids.numel() > 0) {
    const int64_t lo = packed_text_ids.min().item<int64_t>();
    const int64_t hi = packed_text_ids.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < vocab_size, "packed_text_ids: ids must lie in [0, ", vocab_size,
                "), got [", lo, ", ", hi, "]");
  }
  TORCH_CHECK(packed_position_ids.defined() && packed_position_ids.dim() == 1 &&
                  packed_position_ids.size(0) == n,
              "packed_position_ids must have sequence_length = ", n, " entries");
  const int64_t total = std::accumulate(sample_lens.begin(), sample_lens.end(), int64_t{0});
  TORCH_CHECK(total >= n, "sum(sample_lens) = ", total, " is less than sequence_length = ", n);
  if (has_vit()) {
    TORCH_CHECK(packed_vit_tokens.dim() == 2, "packed_vit_tokens must be [n, p*p*3], got ",
                packed_vit_tokens.sizes());
    const int64_t nv = packed_vit_tokens.size(0);
    CheckLength(packed_vit_token_indexes, "packed_vit_token_indexes", nv, "packed_vit_tokens");
    CheckLength(packed_vit_position_ids, "packed_vit_position_ids", nv, "packed_vit_tokens");
    CheckIndexes(packed_vit_token_indexes, "packed_vit_token_indexes", n);
    const int64_t seq =
        std::accumulate(vit_token_seqlens.begin(), vit_token_seqlens.end(), int64_t{0});
    TORCH_CHECK(seq == nv, "vit_token_seqlens sum to ", seq, " but packed_vit_tokens has ", nv,
                " rows");
  }
  if (has_ce()) {
    CheckIndexes(ce_loss_indexes, "ce_loss_indexes", n);
    CheckLength(packed_label_ids, "packed_label_ids", ce_loss_indexes.numel(), "ce_loss_indexes");
  }
  if (has_latents()) {
    const auto shapes = patchified_vae_latent_shapes;
    TORCH_CHECK(
        padded_latent.dim() == 4 && padded_latent.size(0) == static_cast<int64_t>(shapes.size()),
        "padded_latent must be [", shapes.size(), ", z, H, W] (one per latent shape), got ",
        padded_latent.sizes());
    int64_t tokens = 0;
    for (const auto& [h, w] : shapes) tokens += h * w;
    CheckLength(packed_vae_token_indexes, "packed_vae_token_indexes", tokens,
                "patchified_vae_latent_shapes");
    CheckLength(packed_latent_position_ids, "packed_latent_position_ids", tokens,
                "patchified_vae_latent_shapes");
    CheckLength(packed_timesteps, "packed_timesteps", tokens, "patchified_vae_latent_shapes");
    CheckIndexes(packed_vae_token_indexes, "packed_vae_token_indexes", n);
    CheckIndexes(mse_loss_indexes, "mse_loss_indexes", n);
    if (noise.defined()) {
      TORCH_CHECK(noise.dim() == 2 && noise.size(0) == tokens, "noise must be [", tokens,
                  ", latent patch dim], got ", noise.sizes());
    }
  }
}

}  // namespace bagel
