// Packs samples into one sequence exactly as the official PackedDataset.pack_sequence and
// to_tensor do (BAGEL.md §2.3): tokens, labels, RoPE ids, splits and modes, ViT patches and the
// zero-padded VAE images, with CFG dropout per item.
#pragma once

#include <functional>
#include <vector>

#include "model/bagel/packed_batch.h"
#include "worker/data/sequence_plan.h"

namespace bagel::data {

struct PackerConfig {
  int64_t vit_patch_size = 14;
  int64_t max_num_patch_per_side = 70;
  int64_t vae_image_downsample = 16;  // VAE downsample x latent patch size
  int64_t max_latent_size = 32;
  double text_cond_dropout_prob = 0.0;
  double vit_cond_dropout_prob = 0.0;
  double vae_cond_dropout_prob = 0.0;
  // Dense per-sample masks (the official non-flex path) instead of split_lens + attn_modes.
  bool dense_masks = false;
};

// Where the packer's randomness comes from: a uniform draw in [0, 1) per CFG-droppable item,
// and a standard normal draw per noised VAE image (its raw timestep).
struct PackRandomness {
  std::function<double()> uniform;
  std::function<double()> normal;
};

// One packed sequence: the forward's inputs plus the images for the VAE encoder.
struct PackedSequence {
  PackedBatch batch;
  at::Tensor padded_images;    // [n_vae, 3, maxH, maxW], zero-padded; undefined without VAE items
  at::Tensor ce_loss_weights;  // len2weight('square') per CE position (BAGEL.md §2.6)
};

class SequencePacker {
 public:
  SequencePacker(PackerConfig config, SpecialTokens tokens);

  // Appends one sample; throws naming the item when its text ids or images do not match the plan.
  void Add(const Sample& sample, const PackRandomness& random);

  int64_t num_tokens() const { return curr_; }
  int64_t num_samples() const { return static_cast<int64_t>(sample_lens_.size()); }

  // The packed tensors; the packer is left empty.
  PackedSequence Finish();

 private:
  PackerConfig config_;
  SpecialTokens tokens_;
  int64_t curr_ = 0;
  std::vector<int64_t> sample_lens_, split_lens_, position_ids_;
  std::vector<AttnMode> attn_modes_;
  std::vector<at::Tensor> nested_masks_;
  std::vector<int64_t> text_ids_, text_indexes_, label_ids_, ce_indexes_;
  std::vector<double> ce_weights_;
  std::vector<at::Tensor> vae_images_, latent_position_ids_;
  std::vector<std::pair<int64_t, int64_t>> latent_shapes_;
  std::vector<int64_t> vae_indexes_, mse_indexes_;
  std::vector<float> timesteps_;
  std::vector<at::Tensor> vit_tokens_, vit_position_ids_;
  std::vector<int64_t> vit_indexes_, vit_seqlens_;
};

// len2weight('square'): 1/sqrt(x), 0 for x = 0.
double LenToWeight(int64_t x);

}  // namespace bagel::data
