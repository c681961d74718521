#include "model/bagel/timestep_embedder.h"

#include <cmath>

namespace bagel {
namespace {

// Occupies index 1 of `mlp` so the Linear layers keep the official indices 0 and 2.
class SiluSlot : public torch::nn::Module {};

}  // namespace

at::Tensor TimestepFrequencyEmbedding(const at::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  at::Tensor freqs = at::exp(-std::log(10000.0) *
                             at::arange(0, half, at::TensorOptions().dtype(at::kFloat)) / half)
                         .to(t.device());
  at::Tensor args = t.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  at::Tensor emb = at::cat({args.cos(), args.sin()}, -1);
  if (dim % 2) emb = at::cat({emb, at::zeros_like(emb.narrow(1, 0, 1))}, -1);
  return emb;
}

TimestepEmbedder::TimestepEmbedder(int64_t hidden, const at::TensorOptions& options) {
  mlp = register_module("mlp", torch::nn::ModuleList());
  fc_in = std::make_shared<nn::Linear>(kFrequencyDim, hidden, true, options);
  fc_out = std::make_shared<nn::Linear>(hidden, hidden, true, options);
  mlp->push_back(fc_in);
  mlp->push_back(std::make_shared<SiluSlot>());
  mlp->push_back(fc_out);
}

at::Tensor TimestepEmbedder::Forward(const at::Tensor& t) const {
  at::Tensor f = TimestepFrequencyEmbedding(t, kFrequencyDim).to(fc_in->weight.scalar_type());
  return fc_out->Forward(at::silu(fc_in->Forward(f)));
}

}  // namespace bagel
