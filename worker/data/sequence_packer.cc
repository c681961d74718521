#include "worker/data/sequence_packer.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

#include "model/attention/attention_layout.h"
#include "model/siglip/patch_embedding.h"

namespace bagel::data {

double LenToWeight(int64_t x) { return x == 0 ? 0.0 : 1.0 / std::sqrt(static_cast<double>(x)); }

SequencePacker::SequencePacker(PackerConfig config, SpecialTokens tokens)
    : config_(config), tokens_(tokens) {}

void SequencePacker::Add(const Sample& sample, const PackRandomness& random) {
  size_t next_text = 0, next_image = 0;
  int64_t rope = 0, sample_len = 0;
  std::vector<int64_t> splits;
  std::vector<AttnMode> modes;
  auto append_text = [&](int64_t id) {
    text_ids_.push_back(id);
    text_indexes_.push_back(curr_++);
  };
  auto special_label = [&](const PlanItem& item, size_t i) {
    if (!item.special_token_loss) return;
    TORCH_CHECK(item.special_token_label.has_value(), "sequence_plan[", i,
                "]: special_token_loss needs special_token_label");
    ce_indexes_.push_back(curr_);
    ce_weights_.push_back(1.0);
    label_ids_.push_back(*item.special_token_label);
  };
  for (size_t i = 0; i < sample.plan.size(); ++i) {
    const PlanItem& item = sample.plan[i];
    int64_t split_len = 0;
    if (item.type == PlanItemType::kText) {
      TORCH_CHECK(next_text < sample.text_ids.size(), "sequence_plan[", i,
                  "]: more text items than text_ids_list entries");
      const std::vector<int64_t>& ids = sample.text_ids[next_text++];
      if (item.enable_cfg && random.uniform() < config_.text_cond_dropout_prob) continue;
      const int64_t n = static_cast<int64_t>(ids.size()) + 1;  // BOS + ids
      if (item.loss) {
        for (int64_t k = 0; k < n; ++k) {
          ce_indexes_.push_back(curr_ + k);
          ce_weights_.push_back(LenToWeight(n));
        }
        label_ids_.insert(label_ids_.end(), ids.begin(), ids.end());
        label_ids_.push_back(tokens_.eos);
      }
      append_text(tokens_.bos);
      for (int64_t id : ids) append_text(id);
      special_label(item, i);
      append_text(tokens_.eos);
      split_len = n + 1;
      for (int64_t k = 0; k < split_len; ++k) position_ids_.push_back(rope + k);
      rope += split_len;
      modes.push_back(AttnMode::kCausal);
    } else {
      TORCH_CHECK(next_image < sample.images.size(), "sequence_plan[", i,
                  "]: more image items than images");
      const at::Tensor& image = sample.images[next_image++];
      TORCH_CHECK(image.dim() == 3 && image.size(0) == 3, "sequence_plan[", i,
                  "]: image must be [3, H, W], got ", image.sizes());
      if (item.type == PlanItemType::kVitImage) {
        if (item.enable_cfg && random.uniform() < config_.vit_cond_dropout_prob) {
          rope += 1;  // a dropped image still advances the rope counter
          continue;
        }
        append_text(tokens_.start_of_image);
        at::Tensor patches = Patchify(image.to(at::kFloat), config_.vit_patch_size);
        const int64_t n = patches.size(0);
        for (int64_t k = 0; k < n; ++k) vit_indexes_.push_back(curr_ + k);
        curr_ += n;
        vit_tokens_.push_back(patches);
        vit_seqlens_.push_back(n);
        vit_position_ids_.push_back(FlattenedPositionIdsExtrapolate(
            image.size(1), image.size(2), config_.vit_patch_size, config_.max_num_patch_per_side));
        special_label(item, i);
        append_text(tokens_.end_of_image);
        split_len = n + 2;
        position_ids_.insert(position_ids_.end(), split_len, rope);
        rope += 1;
        modes.push_back(AttnMode::kFull);
      } else {
        if (item.enable_cfg && random.uniform() < config_.vae_cond_dropout_prob) {
          rope += 1;
          continue;
        }
        append_text(tokens_.start_of_image);
        const int64_t d = config_.vae_image_downsample;
        TORCH_CHECK(image.size(1) % d == 0 && image.size(2) % d == 0, "sequence_plan[", i,
                    "]: VAE image ", image.size(1), "x", image.size(2), " is not a multiple of ",
                    d);
        vae_images_.push_back(image.to(at::kFloat));
        latent_position_ids_.push_back(FlattenedPositionIdsExtrapolate(image.size(1), image.size(2),
                                                                       d, config_.max_latent_size));
        const int64_t h = image.size(1) / d, w = image.size(2) / d, n = h * w;
        latent_shapes_.emplace_back(h, w);
        float timestep = -std::numeric_limits<float>::infinity();
        if (item.loss) {
          for (int64_t k = 0; k < n; ++k) mse_indexes_.push_back(curr_ + k);
          timestep = static_cast<float>(random.normal());
        }
        for (int64_t k = 0; k < n; ++k) {
          vae_indexes_.push_back(curr_ + k);
          timesteps_.push_back(timestep);
        }
        curr_ += n;
        special_label(item, i);
        append_text(tokens_.end_of_image);
        split_len = n + 2;
        position_ids_.insert(position_ids_.end(), split_len, rope);
        if (!item.loss) rope += 1;  // noised images share the rope id of what follows
        modes.push_back(item.loss ? AttnMode::kNoise : AttnMode::kFull);
      }
    }
    splits.push_back(split_len);
    sample_len += split_len;
  }
  TORCH_CHECK(sample_len > 0, "a sample packed to zero tokens (every item dropped)");
  sample_lens_.push_back(sample_len);
  if (config_.dense_masks) {
    nested_masks_.push_back(AdditiveMask(AllowedAttentionMask(splits, modes)));
  } else {
    split_lens_.insert(split_lens_.end(), splits.begin(), splits.end());
    attn_modes_.insert(attn_modes_.end(), modes.begin(), modes.end());
  }
}

PackedSequence SequencePacker::Finish() {
  auto longs = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); };
  PackedSequence out;
  PackedBatch& b = out.batch;
  b.sequence_length = curr_;
  b.sample_lens = sample_lens_;
  b.packed_text_ids = longs(text_ids_);
  b.packed_text_indexes = longs(text_indexes_);
  b.packed_position_ids = longs(position_ids_);
  b.split_lens = split_lens_;
  b.attn_modes = attn_modes_;
  b.nested_attention_masks = nested_masks_;
  if (!vae_images_.empty()) {
    int64_t max_h = 0, max_w = 0;
    for (const auto& img : vae_images_) {
      max_h = std::max(max_h, img.size(1));
      max_w = std::max(max_w, img.size(2));
    }
    out.padded_images = at::zeros({static_cast<int64_t>(vae_images_.size()), 3, max_h, max_w});
    for (size_t i = 0; i < vae_images_.size(); ++i) {
      out.padded_images[i]
          .narrow(1, 0, vae_images_[i].size(1))
          .narrow(2, 0, vae_images_[i].size(2))
          .copy_(vae_images_[i]);
    }
    b.patchified_vae_latent_shapes = latent_shapes_;
    b.packed_latent_position_ids = at::cat(latent_position_ids_);
    b.packed_vae_token_indexes = longs(vae_indexes_);
    b.packed_timesteps = at::tensor(timesteps_, at::kFloat);
    b.mse_loss_indexes = longs(mse_indexes_);
  }
  if (!vit_tokens_.empty()) {
    b.packed_vit_tokens = at::cat(vit_tokens_);
    b.packed_vit_position_ids = at::cat(vit_position_ids_);
    b.packed_vit_token_indexes = longs(vit_indexes_);
    b.vit_token_seqlens = vit_seqlens_;
  }
  if (!label_ids_.empty()) {
    b.packed_label_ids = longs(label_ids_);
    b.ce_loss_indexes = longs(ce_indexes_);
    out.ce_loss_weights = at::tensor(ce_weights_, at::kDouble).to(at::kFloat);
    b.ce_loss_weights = out.ce_loss_weights;
  }
  *this = SequencePacker(config_, tokens_);
  return out;
}

}  // namespace bagel::data
