#include "worker/trainer/training_loss.h"

namespace bagel::train {
namespace {

// world / max(count, 1) as the float32 factor the official code multiplies by (W / count in
// double, rounded once); a head with no tokens anywhere has a zero sum, so the clamp only keeps
// the division finite.
at::Tensor Normaliser(const at::Tensor& count, int world_size) {
  return (static_cast<double>(world_size) / count.clamp_min(1.0)).to(at::kFloat);
}

}  // namespace

MicroStepLoss TokenNormalizedLoss(const ForwardOutputs& out, const at::Tensor& global_tokens,
                                  int world_size, const LossWeights& weights, int grad_accum) {
  MicroStepLoss r;
  const at::Tensor& any = out.ce.defined() ? out.ce : out.mse;
  const auto options = any.defined() ? any.options().dtype(at::kFloat) : at::TensorOptions();
  at::Tensor total = at::zeros({}, options);
  at::Tensor ce = at::zeros({}, options), mse = at::zeros({}, options);
  if (out.ce.defined()) {
    r.ce_tokens = out.ce.numel();
    ce = out.ce.to(at::kFloat).sum() * Normaliser(global_tokens[0], world_size);
    total = total + weights.ce * ce;
  }
  if (out.mse.defined()) {
    r.mse_tokens = out.mse.size(0);
    mse = out.mse.to(at::kFloat).mean(-1).sum() * Normaliser(global_tokens[1], world_size);
    total = total + weights.mse * mse;
  }
  r.loss = total / grad_accum;
  r.logged = at::stack({ce.detach(), mse.detach()}).to(at::kDouble);
  return r;
}

}  // namespace bagel::train
