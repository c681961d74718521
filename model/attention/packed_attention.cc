#include "model/attention/packed_attention.h"

#include <c10/util/Exception.h>
#include <c10/util/Logging.h>

#include <atomic>
#include <cstdlib>
#include <utility>
#include <vector>

#include "model/attention/varlen_attention_plan.h"

namespace bagel {
namespace {

AttentionPath PathFromEnvironment() {
  const char* name = std::getenv("BAGEL_ATTENTION");
  return name == nullptr || *name == '\0' ? AttentionPath::kAuto : AttentionPathFromName(name);
}

std::atomic<AttentionPath>& ConfiguredPath() {
  static std::atomic<AttentionPath> path{PathFromEnvironment()};
  return path;
}

// Cleared when the flash kernel refuses its first call (a GPU older than the kernel needs):
// the split path runs from then on.
std::atomic<bool> flash_usable{true};
std::atomic<bool> flash_ran{false};

// The varlen kernel for q under the configured path; nullopt: the split path.
std::optional<VarlenKernel> ChooseVarlenKernel(const at::Device& device, at::ScalarType dtype,
                                               int64_t head_dim) {
  const AttentionPath path = GetAttentionPath();
  const bool flash = flash_usable.load() && FlashVarlenSupports(device, dtype, head_dim);
  if (path == AttentionPath::kSplitSdpa) return std::nullopt;
  if (flash) return VarlenKernel::kFlash;
  if (path == AttentionPath::kVarlen) return VarlenKernel::kReference;
  return std::nullopt;
}

// [Hq, L, d] views -> [1, Hq, L, d] for SDPA, and back.
at::Tensor Sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const std::optional<at::Tensor>& mask, bool is_causal, double scale) {
  return at::scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), mask,
                                          /*dropout_p=*/0.0, is_causal, scale)
      .squeeze(0);
}

at::Tensor SplitSdpaAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const AttentionLayout& layout, double scale);

}  // namespace

void SetAttentionPath(AttentionPath path) { ConfiguredPath().store(path); }

AttentionPath GetAttentionPath() { return ConfiguredPath().load(); }

AttentionPath AttentionPathFromName(const std::string& name) {
  if (name == "auto") return AttentionPath::kAuto;
  if (name == "split") return AttentionPath::kSplitSdpa;
  if (name == "varlen") return AttentionPath::kVarlen;
  TORCH_CHECK(false, "BAGEL_ATTENTION: '", name, "' is not auto, split or varlen");
}

std::string AttentionKernelName(const at::Device& device, at::ScalarType dtype, int64_t head_dim) {
  const auto kernel = ChooseVarlenKernel(device, dtype, head_dim);
  if (!kernel) return "sdpa-split";
  return *kernel == VarlenKernel::kFlash ? "flash-varlen" : "varlen-reference";
}

at::Tensor PackedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionLayout& layout, double scale) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "PackedAttention expects [N, H, d]");
  TORCH_CHECK(layout.num_tokens() == q.size(0), "attention layout covers ", layout.num_tokens(),
              " tokens but the sequence has ", q.size(0));
  const auto kernel = layout.uses_dense_masks()
                          ? std::nullopt
                          : ChooseVarlenKernel(q.device(), q.scalar_type(), q.size(-1));
  if (!kernel) return SplitSdpaAttention(q, k, v, layout, scale);
  const VarlenAttentionPlan& plan = layout.VarlenPlan(q.device());
  if (*kernel == VarlenKernel::kReference) {
    return RunVarlenAttention(q, k, v, plan, scale, *kernel);
  }
  if (flash_ran.load()) return RunVarlenAttention(q, k, v, plan, scale, *kernel);
  try {
    at::Tensor out = RunVarlenAttention(q, k, v, plan, scale, *kernel);
    flash_ran.store(true);
    return out;
  } catch (const c10::OutOfMemoryError&) {
    throw;  // says nothing about the kernel
  } catch (const c10::Error& e) {
    // The first call tells whether this GPU runs the kernel (flash needs sm80 or newer); later
    // errors are real ones. Without it: the plan's reference kernel when varlen was asked for,
    // else SDPA per split (ChooseVarlenKernel).
    flash_usable.store(false);
    LOG(WARNING) << "flash varlen attention is unavailable here, using "
                 << AttentionKernelName(q.device(), q.scalar_type(), q.size(-1)) << ": "
                 << e.what_without_backtrace();
    return PackedAttention(q, k, v, layout, scale);  // chosen again, without flash
  }
}

namespace {

at::Tensor SplitSdpaAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const AttentionLayout& layout, double scale) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "PackedAttention expects [N, H, d]");
  const int64_t n = q.size(0);
  const int64_t heads = q.size(1);
  const int64_t kv_heads = k.size(1);
  TORCH_CHECK(k.size(0) == n && v.size(0) == n, "q, k, v differ in token count");
  TORCH_CHECK(heads % kv_heads == 0, "query heads ", heads, " not a multiple of kv heads ",
              kv_heads);
  TORCH_CHECK(layout.num_tokens() == n, "attention layout covers ", layout.num_tokens(),
              " tokens but the sequence has ", n);

  // GQA: repeat each key/value head for its group of query heads (the official layout).
  at::Tensor kk = k, vv = v;
  if (heads != kv_heads) {
    const int64_t group = heads / kv_heads;
    kk = k.repeat_interleave(group, /*dim=*/1);
    vv = v.repeat_interleave(group, /*dim=*/1);
  }
  const at::Tensor qt = q.transpose(0, 1);  // [H, N, d]
  const at::Tensor kt = kk.transpose(0, 1);
  const at::Tensor vt = vv.transpose(0, 1);

  std::vector<at::Tensor> outputs;
  int64_t covered = 0;
  for (const AttentionSample& sample : layout.samples()) {
    TORCH_INTERNAL_ASSERT(sample.start == covered, "layout samples are not contiguous");
    covered += sample.length;
    if (sample.dense_mask.defined()) {
      at::Tensor mask = sample.dense_mask.to(q.device());
      if (mask.is_floating_point()) mask = mask.to(q.scalar_type());
      outputs.push_back(Sdpa(qt.narrow(1, sample.start, sample.length),
                             kt.narrow(1, sample.start, sample.length),
                             vt.narrow(1, sample.start, sample.length), mask, false, scale));
      continue;
    }
    for (size_t j = 0; j < sample.splits.size(); ++j) {
      const AttentionSplit& split = sample.splits[j];
      auto runs = VisibleEarlierSplits(sample, j);
      int64_t prefix = 0;
      for (const auto& r : runs) prefix += r.second - r.first;
      at::Tensor keys, values;
      if (runs.empty() || (runs.size() == 1 && runs[0].second == split.start)) {
        // Contiguous: [first visible token, end of this split).
        const int64_t begin = runs.empty() ? split.start : runs[0].first;
        keys = kt.narrow(1, begin, split.start + split.length - begin);
        values = vt.narrow(1, begin, split.start + split.length - begin);
      } else {
        std::vector<at::Tensor> kparts, vparts;
        for (const auto& r : runs) {
          kparts.push_back(kt.narrow(1, r.first, r.second - r.first));
          vparts.push_back(vt.narrow(1, r.first, r.second - r.first));
        }
        kparts.push_back(kt.narrow(1, split.start, split.length));
        vparts.push_back(vt.narrow(1, split.start, split.length));
        keys = at::cat(kparts, 1);
        values = at::cat(vparts, 1);
      }
      const at::Tensor queries = qt.narrow(1, split.start, split.length);
      if (split.mode != AttnMode::kCausal) {
        outputs.push_back(Sdpa(queries, keys, values, std::nullopt, false, scale));
      } else if (prefix == 0) {
        outputs.push_back(Sdpa(queries, keys, values, std::nullopt, true, scale));
      } else {
        // Bottom-right causal: row i sees the whole prefix and its split's tokens 0..i.
        at::Tensor mask = at::ones({split.length, prefix + split.length},
                                   at::TensorOptions().dtype(at::kBool).device(q.device()))
                              .tril(prefix);
        outputs.push_back(Sdpa(queries, keys, values, mask, false, scale));
      }
    }
  }
  TORCH_INTERNAL_ASSERT(covered == n);
  return at::cat(outputs, 1).transpose(0, 1);  // [N, H, d]
}

}  // namespace

at::Tensor DenseReferenceAttentionForTest(const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, const at::Tensor& allowed,
                                          double scale) {
  const int64_t group = q.size(1) / k.size(1);
  at::Tensor kk = k.repeat_interleave(group, 1).transpose(0, 1).to(at::kDouble);  // [H, N, d]
  at::Tensor vv = v.repeat_interleave(group, 1).transpose(0, 1).to(at::kDouble);
  at::Tensor qq = q.transpose(0, 1).to(at::kDouble);
  at::Tensor scores = at::matmul(qq, kk.transpose(1, 2)) * scale;  // [H, N, N]
  scores = scores.masked_fill(allowed.logical_not().unsqueeze(0),
                              -std::numeric_limits<double>::infinity());
  at::Tensor probs = at::softmax(scores, -1);
  return at::matmul(probs, vv).transpose(0, 1).to(q.scalar_type());
}

}  // namespace bagel
