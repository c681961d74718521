#include "worker/trainer/training_loss.h"

namespace bagel::train {

MicroStepLoss TokenNormalizedLoss(const ForwardOutputs& out, int64_t global_ce_tokens,
                                  int64_t global_mse_tokens, int world_size,
                                  const LossWeights& weights, int grad_accum) {
  MicroStepLoss r;
  const at::Tensor& any = out.ce.defined() ? out.ce : out.mse;
  at::Tensor total =
      at::zeros({}, any.defined() ? any.options().dtype(at::kFloat) : at::TensorOptions());
  if (out.ce.defined() && global_ce_tokens > 0) {
    r.ce_tokens = out.ce.numel();
    at::Tensor ce =
        out.ce.to(at::kFloat).sum() * (static_cast<double>(world_size) / global_ce_tokens);
    r.ce = ce.item<double>();
    total = total + weights.ce * ce;
  }
  if (out.mse.defined() && global_mse_tokens > 0) {
    r.mse_tokens = out.mse.size(0);
    at::Tensor mse = out.mse.to(at::kFloat).mean(-1).sum() *
                     (static_cast<double>(world_size) / global_mse_tokens);
    r.mse = mse.item<double>();
    total = total + weights.mse * mse;
  }
  r.loss = total / grad_accum;
  return r;
}

}  // namespace bagel::train
