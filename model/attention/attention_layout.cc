#include "model/attention/attention_layout.h"

#include <c10/util/Exception.h>

#include <limits>
#include <mutex>
#include <numeric>

#include "model/attention/varlen_attention_plan.h"

namespace bagel {

struct AttentionLayout::PlanCache {
  std::mutex mutex;
  std::vector<std::unique_ptr<VarlenAttentionPlan>> plans;  // one per device asked for
};

AttentionLayout::AttentionLayout() : plan_cache_(std::make_shared<PlanCache>()) {}

const VarlenAttentionPlan& AttentionLayout::VarlenPlan(const at::Device& device) const {
  std::lock_guard<std::mutex> lock(plan_cache_->mutex);
  for (const auto& plan : plan_cache_->plans) {
    if (plan->device == device) return *plan;
  }
  plan_cache_->plans.push_back(
      std::make_unique<VarlenAttentionPlan>(BuildVarlenAttentionPlan(*this, device)));
  return *plan_cache_->plans.back();
}

AttnMode AttnModeFromCode(int64_t code) {
  TORCH_CHECK(code >= 0 && code <= 2, "attn_modes: code ", code,
              " is not 0 (causal), 1 (full) or 2 (noise)");
  return static_cast<AttnMode>(code);
}

AttnMode AttnModeFromName(const std::string& name) {
  if (name == "causal") return AttnMode::kCausal;
  if (name == "full") return AttnMode::kFull;
  if (name == "noise") return AttnMode::kNoise;
  TORCH_CHECK(false, "attn_modes: '", name, "' is not causal, full or noise");
}

const char* AttnModeName(AttnMode mode) {
  switch (mode) {
    case AttnMode::kCausal:
      return "causal";
    case AttnMode::kFull:
      return "full";
    case AttnMode::kNoise:
      return "noise";
  }
  return "?";
}

AttentionLayout AttentionLayout::FromSplits(const std::vector<int64_t>& sample_lens,
                                            const std::vector<int64_t>& split_lens,
                                            const std::vector<AttnMode>& modes,
                                            int64_t num_tokens) {
  TORCH_CHECK(split_lens.size() == modes.size(), "split_lens has ", split_lens.size(),
              " entries but attn_modes has ", modes.size());
  const int64_t total_samples = std::accumulate(sample_lens.begin(), sample_lens.end(), int64_t{0});
  const int64_t total_splits = std::accumulate(split_lens.begin(), split_lens.end(), int64_t{0});
  TORCH_CHECK(total_samples == total_splits, "sum(split_lens) = ", total_splits,
              " differs from sum(sample_lens) = ", total_samples);
  TORCH_CHECK(total_samples >= num_tokens, "sum(sample_lens) = ", total_samples,
              " is less than sequence_length = ", num_tokens);
  AttentionLayout layout;
  layout.num_tokens_ = num_tokens;
  size_t split = 0;
  int64_t start = 0;
  for (size_t s = 0; s < sample_lens.size(); ++s) {
    TORCH_CHECK(sample_lens[s] > 0, "sample_lens[", s, "] = ", sample_lens[s], " is not positive");
    AttentionSample sample;
    sample.start = start;
    sample.length = sample_lens[s];
    int64_t covered = 0;
    while (covered < sample.length) {
      TORCH_CHECK(split < split_lens.size(), "split_lens end inside sample ", s);
      TORCH_CHECK(split_lens[split] >= 0, "split_lens[", split, "] is negative");
      TORCH_CHECK(covered + split_lens[split] <= sample.length, "split_lens[", split,
                  "] crosses the end of sample ", s);
      if (split_lens[split] > 0) {
        sample.splits.push_back({start + covered, split_lens[split], modes[split]});
      }
      covered += split_lens[split];
      ++split;
    }
    if (start >= num_tokens) {
      // The flex path's padding sample holds no real tokens.
    } else {
      TORCH_CHECK(start + sample.length <= num_tokens, "sample ", s, " [", start, ", ",
                  start + sample.length, ") crosses sequence_length ", num_tokens);
      layout.samples_.push_back(std::move(sample));
    }
    start += sample_lens[s];
  }
  return layout;
}

AttentionLayout AttentionLayout::FromNestedMasks(const std::vector<int64_t>& sample_lens,
                                                 const std::vector<at::Tensor>& masks,
                                                 int64_t num_tokens) {
  TORCH_CHECK(masks.size() == sample_lens.size(), "nested_attention_masks has ", masks.size(),
              " masks for ", sample_lens.size(), " samples");
  AttentionLayout layout;
  layout.num_tokens_ = num_tokens;
  int64_t start = 0;
  for (size_t s = 0; s < sample_lens.size(); ++s) {
    const int64_t n = sample_lens[s];
    TORCH_CHECK(masks[s].dim() == 2 && masks[s].size(0) == n && masks[s].size(1) == n,
                "nested_attention_masks.", s, " has shape ", masks[s].sizes(), ", expected [", n,
                ", ", n, "]");
    TORCH_CHECK(masks[s].is_floating_point() || masks[s].scalar_type() == at::kBool,
                "nested_attention_masks.", s, " must be float (0 / -inf) or bool");
    if (start < num_tokens) {
      TORCH_CHECK(start + n <= num_tokens, "sample ", s, " crosses sequence_length ", num_tokens);
      layout.samples_.push_back({start, n, {}, masks[s]});
    }
    start += n;
  }
  TORCH_CHECK(start >= num_tokens, "sum(sample_lens) = ", start, " is less than sequence_length ",
              num_tokens);
  return layout;
}

AttentionLayout AttentionLayout::FullSegments(const std::vector<int64_t>& segment_lens) {
  AttentionLayout layout;
  int64_t start = 0;
  for (int64_t n : segment_lens) {
    TORCH_CHECK(n > 0, "segment length ", n, " is not positive");
    layout.samples_.push_back({start, n, {{start, n, AttnMode::kFull}}, {}});
    start += n;
  }
  layout.num_tokens_ = start;
  return layout;
}

bool AttentionLayout::uses_dense_masks() const {
  for (const auto& s : samples_) {
    if (s.dense_mask.defined()) return true;
  }
  return false;
}

std::vector<std::pair<int64_t, int64_t>> VisibleEarlierSplits(const AttentionSample& sample,
                                                              size_t split) {
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (size_t i = 0; i < split; ++i) {
    const AttentionSplit& s = sample.splits[i];
    if (s.mode == AttnMode::kNoise) continue;
    if (!runs.empty() && runs.back().second == s.start) {
      runs.back().second = s.start + s.length;
    } else {
      runs.emplace_back(s.start, s.start + s.length);
    }
  }
  return runs;
}

at::Tensor AllowedAttentionMask(const std::vector<int64_t>& split_lens,
                                const std::vector<AttnMode>& modes) {
  TORCH_CHECK(split_lens.size() == modes.size(), "split_lens and attn_modes differ in length");
  std::vector<int64_t> split_id, bidirectional, noise;
  for (size_t i = 0; i < split_lens.size(); ++i) {
    for (int64_t t = 0; t < split_lens[i]; ++t) {
      split_id.push_back(static_cast<int64_t>(i));
      bidirectional.push_back(modes[i] != AttnMode::kCausal);
      noise.push_back(modes[i] == AttnMode::kNoise);
    }
  }
  const int64_t n = static_cast<int64_t>(split_id.size());
  at::Tensor sid = at::tensor(split_id, at::kLong);
  at::Tensor bidir = at::tensor(bidirectional, at::kLong).to(at::kBool);
  at::Tensor is_noise = at::tensor(noise, at::kLong).to(at::kBool);
  at::Tensor pos = at::arange(n, at::kLong);
  at::Tensor same_split = sid.unsqueeze(1).eq(sid.unsqueeze(0));
  at::Tensor earlier = pos.unsqueeze(1).ge(pos.unsqueeze(0));  // [q, k]: k <= q
  at::Tensor within_bidir = same_split.logical_and(bidir.unsqueeze(1));
  at::Tensor foreign_noise = is_noise.unsqueeze(0).logical_and(same_split.logical_not());
  return earlier.logical_or(within_bidir).logical_and(foreign_noise.logical_not());
}

at::Tensor AdditiveMask(const at::Tensor& allowed) {
  return at::zeros(allowed.sizes(), at::kFloat)
      .masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
}

}  // namespace bagel
