#include "worker/fsdp/fused_adamw.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace bagel::fsdp {
namespace {

// The float constants torch.optim.AdamW (single-tensor) hands to its in-place ops.
struct AdamWConstants {
  float decay_factor, lerp_weight, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  float ema_decay, ema_weight;
};

AdamWConstants Constants(const AdamWHyper& h, const StepScalars& s) {
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(s.step));
  return {static_cast<float>(1.0 - s.lr * h.weight_decay),
          static_cast<float>(1.0 - h.beta1),
          static_cast<float>(h.beta2),
          static_cast<float>(1.0 - h.beta2),
          static_cast<float>(std::sqrt(bc2)),
          static_cast<float>(h.eps),
          static_cast<float>(-(s.lr / bc1)),
          static_cast<float>(s.ema_decay),
          static_cast<float>(1.0 - s.ema_decay)};
}

template <typename Compute>
void CpuKernel(float* p, float* g, float* m, float* v, float* ema, Compute* out, int64_t n,
               const AdamWConstants& c, float clip) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i] * clip;
      float pi = p[i] * c.decay_factor;
      // exp_avg.lerp_(grad, 1 - beta1), weight < 0.5: self + weight * (end - self)
      const float mi = m[i] + c.lerp_weight * (gi - m[i]);
      // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
      const float vi = v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
      // denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps; p.addcdiv_(m, denom, -step)
      const float denom = std::sqrt(vi) / c.bc2_sqrt + c.eps;
      pi = pi + c.neg_step_size * mi / denom;
      p[i] = pi;
      m[i] = mi;
      v[i] = vi;
      if (ema != nullptr) ema[i] = ema[i] * c.ema_decay + c.ema_weight * pi;
      if (out != nullptr) out[i] = static_cast<Compute>(pi);
    }
  });
}

void CpuStep(OptimizerShard& s, const AdamWConstants& c, float clip) {
  const int64_t n = s.param.numel();
  if (n == 0) return;
  for (const at::Tensor* t : {&s.param, &s.grad, &s.exp_avg, &s.exp_avg_sq}) {
    TORCH_INTERNAL_ASSERT(t->is_cpu() && t->scalar_type() == at::kFloat && t->is_contiguous() &&
                          t->numel() == n);
  }
  float* ema = s.ema.defined() && c.ema_weight > 0 ? s.ema.data_ptr<float>() : nullptr;
  float* p = s.param.data_ptr<float>();
  float* g = s.grad.data_ptr<float>();
  float* m = s.exp_avg.data_ptr<float>();
  float* v = s.exp_avg_sq.data_ptr<float>();
  // The compute copy is written here when it lives beside the state on the host.
  const bool copy = s.compute.defined() && s.compute.is_cpu() && !s.compute.is_same(s.param);
  if (copy && s.compute.scalar_type() == at::kBFloat16) {
    CpuKernel(p, g, m, v, ema, s.compute.data_ptr<at::BFloat16>(), n, c, clip);
  } else if (copy && s.compute.scalar_type() == at::kFloat) {
    CpuKernel(p, g, m, v, ema, s.compute.data_ptr<float>(), n, c, clip);
  } else {
    CpuKernel<float>(p, g, m, v, ema, nullptr, n, c, clip);
    if (s.compute.defined() && !s.compute.is_same(s.param)) {
      s.compute.copy_(s.param, /*non_blocking=*/s.param.is_pinned());
    }
  }
}

}  // namespace

at::Tensor SumOfSquares(const std::vector<at::Tensor>& grads) {
  TORCH_INTERNAL_ASSERT(!grads.empty());
  const at::Device device = grads.front().device();
  if (device.is_cpu()) {
    double total = 0;
    for (const at::Tensor& g : grads) {
      const float* d = g.const_data_ptr<float>();
      total += at::parallel_reduce(
          int64_t{0}, g.numel(), int64_t{1} << 15, 0.0,
          [d](int64_t b, int64_t e, double acc) {
            // Eight independent partial sums: the compiler vectorises them without reassociating
            // one long chain of additions.
            double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t i = b;
            for (; i + 8 <= e; i += 8) {
              for (int k = 0; k < 8; ++k) lanes[k] += static_cast<double>(d[i + k]) * d[i + k];
            }
            for (; i < e; ++i) acc += static_cast<double>(d[i]) * d[i];
            for (double l : lanes) acc += l;
            return acc;
          },
          std::plus<double>());
    }
    return at::full({1}, total, at::TensorOptions().dtype(at::kFloat));
  }
  // One multi-tensor kernel for every shard's norm, then their squares summed, all on device.
  std::vector<at::Tensor> norms = at::_foreach_norm(grads, 2);
  return at::stack(norms).to(at::kFloat).square().sum().reshape({1});
}

at::Tensor ClipCoefficient(const at::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return at::ones_like(norm);
  return (max_norm / (norm + 1e-6)).clamp_max(1.0);
}

void AdamWEmaStep(std::vector<OptimizerShard>& shards, const AdamWHyper& hyper,
                  const StepScalars& scalars, const at::Tensor& clip) {
  at::NoGradGuard no_grad;
  std::vector<OptimizerShard*> live;
  for (OptimizerShard& s : shards) {
    if (s.param.numel() > 0) live.push_back(&s);
  }
  if (live.empty()) return;
  const AdamWConstants c = Constants(hyper, scalars);
  if (live.front()->param.is_cpu()) {
    const float coef = clip.to(at::kCPU).item<float>();  // a host value already on a CPU rank
    for (OptimizerShard* s : live) CpuStep(*s, c, coef);
    return;
  }
  // CUDA: ATen's fused AdamW over all shards (grad_scale divides the gradients: 1 / clip).
  std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  for (OptimizerShard* s : live) {
    params.push_back(s->param);
    grads.push_back(s->grad);
    exp_avgs.push_back(s->exp_avg);
    exp_avg_sqs.push_back(s->exp_avg_sq);
    steps.push_back(at::full({}, static_cast<double>(scalars.step),
                             at::TensorOptions().dtype(at::kFloat).device(s->param.device())));
  }
  const at::Tensor inverse_clip = clip.reciprocal();
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, {}, steps, scalars.lr, hyper.beta1,
                    hyper.beta2, hyper.weight_decay, hyper.eps, /*amsgrad=*/false,
                    /*maximize=*/false, inverse_clip, /*found_inf=*/std::nullopt);
  std::vector<at::Tensor> emas, ema_params, computes, compute_params;
  for (OptimizerShard* s : live) {
    if (s->ema.defined() && scalars.ema_decay > 0) {
      emas.push_back(s->ema);
      ema_params.push_back(s->param);
    }
    if (s->compute.defined() && !s->compute.is_same(s->param)) {
      computes.push_back(s->compute);
      compute_params.push_back(s->param);
    }
  }
  if (!emas.empty()) at::_foreach_lerp_(emas, ema_params, 1.0 - scalars.ema_decay);
  if (!computes.empty()) at::_foreach_copy_(computes, compute_params);
}

}  // namespace bagel::fsdp
