// How the tokens of one packed sequence may attend to each other (BAGEL.md §2.4).
//
// Tokens are grouped into samples and, within a sample, into splits with a mode. Query q may
// attend key k iff (1) they are in the same sample, (2) k <= q or both are in the same full or
// noise split, and (3) k is not in a noise split other than q's own. Alternatively a sample can
// carry an explicit dense mask (the official non-flex path's nested_attention_masks).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bagel {

struct VarlenAttentionPlan;  // varlen_attention_plan.h

enum class AttnMode : int64_t { kCausal = 0, kFull = 1, kNoise = 2 };

// Batch files store modes as codes 0 causal, 1 full, 2 noise; throws on anything else.
AttnMode AttnModeFromCode(int64_t code);
AttnMode AttnModeFromName(const std::string& name);
const char* AttnModeName(AttnMode mode);

struct AttentionSplit {
  int64_t start = 0;  // first token, in packed-sequence coordinates
  int64_t length = 0;
  AttnMode mode = AttnMode::kCausal;
};

struct AttentionSample {
  int64_t start = 0;
  int64_t length = 0;
  std::vector<AttentionSplit> splits;  // empty when dense_mask is used
  at::Tensor dense_mask;               // [length, length]: bool (true = attend) or float additive
};

class AttentionLayout {
 public:
  AttentionLayout();  // empty: no tokens

  // From the flex-path inputs. Splits are consumed in order, each sample taking splits until
  // their lengths reach its own. Samples starting at or after `num_tokens` (the flex path's
  // padding sample) are dropped. Throws naming the field when the lists disagree.
  static AttentionLayout FromSplits(const std::vector<int64_t>& sample_lens,
                                    const std::vector<int64_t>& split_lens,
                                    const std::vector<AttnMode>& modes, int64_t num_tokens);

  // From per-sample dense masks (float: 0 attend, -inf blocked; or bool: true attend).
  static AttentionLayout FromNestedMasks(const std::vector<int64_t>& sample_lens,
                                         const std::vector<at::Tensor>& masks, int64_t num_tokens);

  // One full split per segment: non-causal attention within each segment (the ViT's images).
  static AttentionLayout FullSegments(const std::vector<int64_t>& segment_lens);

  int64_t num_tokens() const { return num_tokens_; }
  const std::vector<AttentionSample>& samples() const { return samples_; }
  bool uses_dense_masks() const;

  // The varlen plan of this layout (varlen_attention_plan.h) with its indices on `device`:
  // built at the first call, then shared by every layer and every copy of the layout (a layout
  // does not change once made). Thread-safe.
  const VarlenAttentionPlan& VarlenPlan(const at::Device& device) const;

 private:
  struct PlanCache;
  int64_t num_tokens_ = 0;
  std::vector<AttentionSample> samples_;
  std::shared_ptr<PlanCache> plan_cache_;
};

// The keys split `split` of `sample` sees besides its own tokens: every earlier non-noise split
// of the sample, as merged [begin, end) runs in sequence coordinates.
std::vector<std::pair<int64_t, int64_t>> VisibleEarlierSplits(const AttentionSample& sample,
                                                              size_t split);

// The dense boolean mask [L, L] (true = may attend) of one sample with the given splits, by
// the rule above. For debugging, for nested-mask batch files, and as the test reference's peer.
at::Tensor AllowedAttentionMask(const std::vector<int64_t>& split_lens,
                                const std::vector<AttnMode>& modes);

// The official float form of a boolean mask: 0 where allowed, -inf elsewhere.
at::Tensor AdditiveMask(const at::Tensor& allowed);

}  // namespace bagel
