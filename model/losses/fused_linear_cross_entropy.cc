#include "model/losses/fused_linear_cross_entropy.h"

#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

namespace bagel {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per chunk: the larger, the fewer passes over dW (a [V, H] accumulator) and the better
// the GEMMs; 512 MB of float32 logits holds BENCH.md small's 804 CE rows in one chunk.
int64_t ChunkRows(int64_t vocab, const FusedCrossEntropyOptions& options) {
  if (options.chunk_rows > 0) return options.chunk_rows;
  constexpr int64_t kChunkBytes = 512ll << 20;
  return std::max<int64_t>(16, kChunkBytes / (vocab * 4));
}

// Vocabulary rows per GEMM when writing CPU logits: MKL runs h W^T at ~150 GFLOP/s on this
// machine for a 152k-row W (it repacks W every call) but at ~205 GFLOP/s on 1k-row blocks
// written straight into the strided logits.
constexpr int64_t kCpuVocabBlock = 1024;

// Softmax and accumulations run in float32 for reduced-precision inputs, else in their dtype.
at::ScalarType ComputeType(const at::Tensor& t) {
  return at::isReducedFloatingType(t.scalar_type()) ? at::kFloat : t.scalar_type();
}

// Logits of rows [begin, begin + n): [n, V].
at::Tensor ChunkLogits(const at::Tensor& hidden, const at::Tensor& weight, int64_t begin,
                       int64_t n) {
  at::Tensor logits = at::matmul(hidden.narrow(0, begin, n), weight.t());
  return logits.to(ComputeType(logits));
}

// Softmax of a logits chunk, in place, returning each row's cross-entropy against `labels`.
// The log-sum-exp comes from the softmax itself: lse = max - log(P[argmax]), exact to float
// rounding because P[argmax] >= 1/V never underflows. One in-place softmax kernel replaces the
// several passes (and a temporary) of logsumexp + sub + exp over a buffer of hundreds of MB.
at::Tensor SoftmaxInPlace(at::Tensor& logits, const at::Tensor& labels, const at::Tensor& valid) {
  at::Tensor safe = labels.clamp_min(0).unsqueeze(1);
  at::Tensor target = logits.gather(1, safe).squeeze(1);
  auto [max, argmax] = logits.max(1);
  at::_softmax_out(logits, logits, 1, /*half_to_float=*/false);
  at::Tensor lse = max - logits.gather(1, argmax.unsqueeze(1)).squeeze(1).log();
  return (lse - target) * valid;
}

// softmax -> softmax - onehot (the CE gradient factor), rows with ignored labels zeroed.
void SubtractOneHot_(at::Tensor& probs, const at::Tensor& labels, const at::Tensor& valid,
                     bool all_valid) {
  at::Tensor safe = labels.clamp_min(0).unsqueeze(1);
  probs.scatter_add_(1, safe, valid.unsqueeze(1).neg());
  if (!all_valid) probs.mul_(valid.unsqueeze(1));
}

// d_weight (float32) += g^T h for one chunk. Float32 weights: one float32 GEMM. Reduced-precision
// weights (the bf16 step): the GEMM runs in their dtype, as the official bf16 lm_head backward
// does, and its result is accumulated into the float32 gradient -- on CUDA straight from the
// GEMM's float32 accumulator (addmm with a float32 output), elsewhere from its bf16 result.
void AccumulateWeightGrad(at::Tensor& d_weight, const at::Tensor& g, const at::Tensor& h,
                          bool first) {
  const at::Tensor gt = g.t();
  if (g.scalar_type() == d_weight.scalar_type()) {
    first ? (void)at::mm_out(d_weight, gt, h) : (void)d_weight.addmm_(gt, h);
    return;
  }
  if (d_weight.is_cuda()) {
    static bool float_output_gemm = true;  // CUDA builds without it fall back once
    if (float_output_gemm) {
      try {
        if (first) {
          at::mm_out(d_weight, gt, h, d_weight.scalar_type());
        } else {
          at::addmm_out(d_weight, d_weight, gt, h, d_weight.scalar_type());
        }
        return;
      } catch (const c10::Error&) {
        float_output_gemm = false;
      }
    }
  }
  at::Tensor part = at::mm(gt, h);
  first ? (void)d_weight.copy_(part) : (void)d_weight.add_(part);
}

class FusedLinearCrossEntropyFunction
    : public torch::autograd::Function<FusedLinearCrossEntropyFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden,
                            const at::Tensor& weight, const at::Tensor& labels,
                            int64_t ignore_index, int64_t chunk_rows, bool need_dh, bool need_dw,
                            int64_t labels_valid, bool uniform_gradient) {
    const int64_t m = hidden.size(0);
    const int64_t vocab = weight.size(0);
    const at::ScalarType compute = ComputeType(hidden);
    at::Tensor valid = labels.ne(ignore_index).to(compute);
    // labels_valid: 1 every label valid, 0 some ignored (both known on the host), -1 unknown.
    if (m > 0 && labels_valid < 0) {
      at::Tensor in_range = labels.ge(0).logical_and(labels.lt(vocab));
      TORCH_CHECK(in_range.logical_or(labels.eq(ignore_index)).all().item<bool>(),
                  "packed_label_ids: a label is outside [0, ", vocab, ") and is not ignore_index ",
                  ignore_index);
    }
    at::Tensor ce = at::zeros({m}, hidden.options().dtype(compute));
    at::Tensor d_hidden, d_weight;
    if (need_dh) d_hidden = at::empty({m, hidden.size(1)}, hidden.options().dtype(compute));
    if (need_dw) {
      d_weight = m > 0 ? at::empty(weight.sizes(), weight.options().dtype(compute))
                       : at::zeros(weight.sizes(), weight.options().dtype(compute));
    }
    const bool all_valid =
        m == 0 || (labels_valid >= 0 ? labels_valid == 1 : valid.all().item<bool>());
    for (int64_t begin = 0; begin < m; begin += chunk_rows) {
      const int64_t n = std::min(chunk_rows, m - begin);
      at::Tensor logits = ChunkLogits(hidden, weight, begin, n);  // [n, V]
      at::Tensor y = labels.narrow(0, begin, n);
      at::Tensor ok = valid.narrow(0, begin, n);
      ce.narrow(0, begin, n).copy_(SoftmaxInPlace(logits, y, ok));
      if (!need_dh && !need_dw) continue;
      SubtractOneHot_(logits, y, ok, all_valid);  // logits now hold G = softmax - onehot
      at::Tensor g = logits.to(weight.scalar_type());
      if (need_dh) {
        at::Tensor rows = d_hidden.narrow(0, begin, n);
        if (g.scalar_type() == compute) {
          at::mm_out(rows, g, weight);
        } else {
          rows.copy_(at::matmul(g, weight));
        }
      }
      if (need_dw) AccumulateWeightGrad(d_weight, g, hidden.narrow(0, begin, n), begin == 0);
    }
    ctx->save_for_backward({hidden, weight, labels, d_hidden, d_weight});
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    ctx->saved_data["uniform_gradient"] = uniform_gradient;
    return ce;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& hidden = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& labels = saved[2];
    const at::Tensor& d_hidden = saved[3];
    const at::Tensor& d_weight = saved[4];
    at::Tensor g = grad_outputs[0].to(ComputeType(hidden));  // [M]
    at::Tensor grad_hidden, grad_weight;
    // The factors are this node's own buffers: scale them in place (a second backward through
    // the same graph is refused by autograd's saved-tensor version check).
    if (d_hidden.defined()) grad_hidden = d_hidden.mul_(g.unsqueeze(1)).to(hidden.scalar_type());
    if (d_weight.defined() && ctx->saved_data["uniform_gradient"].toBool()) {
      // Known uniform: scaled on the device by g[0], with no read of g on the host.
      grad_weight = g.numel() == 0 ? d_weight.zero_().to(weight.scalar_type())
                                   : d_weight.mul_(g.narrow(0, 0, 1)).to(weight.scalar_type());
    } else if (d_weight.defined()) {
      const bool uniform = g.numel() == 0 || (g.max() == g.min()).item<bool>();
      if (uniform) {
        const double g0 = g.numel() == 0 ? 0.0 : g[0].item<double>();
        grad_weight = d_weight.mul_(g0).to(weight.scalar_type());
      } else {
        grad_weight =
            RecomputeWeightGrad(hidden, weight, labels, g, ctx->saved_data["ignore_index"].toInt(),
                                ctx->saved_data["chunk_rows"].toInt());
      }
    }
    return {grad_hidden,  grad_weight,  at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }

 private:
  static at::Tensor RecomputeWeightGrad(const at::Tensor& hidden, const at::Tensor& weight,
                                        const at::Tensor& labels, const at::Tensor& g,
                                        int64_t ignore_index, int64_t chunk_rows) {
    const at::ScalarType compute = ComputeType(hidden);
    at::Tensor out = at::zeros(weight.sizes(), weight.options().dtype(compute));
    at::Tensor valid = labels.ne(ignore_index).to(compute);
    const int64_t m = hidden.size(0);
    for (int64_t begin = 0; begin < m; begin += chunk_rows) {
      const int64_t n = std::min(chunk_rows, m - begin);
      at::Tensor logits = ChunkLogits(hidden, weight, begin, n);
      at::Tensor y = labels.narrow(0, begin, n);
      at::Tensor ok = valid.narrow(0, begin, n);
      SoftmaxInPlace(logits, y, ok);
      SubtractOneHot_(logits, y, ok, /*all_valid=*/false);
      logits.mul_(g.narrow(0, begin, n).unsqueeze(1));
      AccumulateWeightGrad(out, logits.to(weight.scalar_type()), hidden.narrow(0, begin, n),
                           /*first=*/false);
    }
    return out.to(weight.scalar_type());
  }
};

}  // namespace

at::Tensor FusedLinearCrossEntropy(const at::Tensor& hidden, const at::Tensor& weight,
                                   const at::Tensor& labels,
                                   const FusedCrossEntropyOptions& options) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "FusedLinearCrossEntropy: hidden ", hidden.sizes(), " and weight ", weight.sizes(),
              " do not match");
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == hidden.size(0), "packed_label_ids has ",
              labels.numel(), " labels for ", hidden.size(0), " CE positions");
  const bool grad = at::GradMode::is_enabled();
  const bool need_dh = grad && hidden.requires_grad();
  const bool need_dw = grad && weight.requires_grad();
  const int64_t labels_valid =
      options.labels_all_valid ? static_cast<int64_t>(*options.labels_all_valid) : -1;
  return FusedLinearCrossEntropyFunction::apply(
      hidden, weight, labels.to(at::kLong), options.ignore_index,
      ChunkRows(weight.size(0), options), need_dh, need_dw, labels_valid, options.uniform_gradient);
}

}  // namespace bagel
