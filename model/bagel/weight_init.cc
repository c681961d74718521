#include "model/bagel/weight_init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace bagel {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Truncated normal on [-2, 2] (before scaling) by the inverse-CDF method, as torch's
// trunc_normal_ does, then scaled by std.
void TruncatedNormal_(at::Tensor& t, double std, at::Generator& gen) {
  const double lo = 0.5 * (1.0 + std::erf(-2.0 / std::sqrt(2.0)));
  const double hi = 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0)));
  t.uniform_(2 * lo - 1, 2 * hi - 1, gen);
  t.erfinv_().mul_(std::sqrt(2.0)).clamp_(-2.0, 2.0).mul_(std);
}

void XavierUniform_(at::Tensor& t, at::Generator& gen) {
  const double fan_out = static_cast<double>(t.size(0)), fan_in = static_cast<double>(t.size(1));
  const double bound = std::sqrt(6.0 / (fan_in + fan_out));
  t.uniform_(-bound, bound, gen);
}

// nn.Linear's default: kaiming_uniform(a=sqrt(5)) on the weight and U(+-1/sqrt(fan_in)) on the
// bias, both bounds 1/sqrt(fan_in).
void DefaultLinear_(at::Tensor& t, int64_t fan_in, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  t.uniform_(-bound, bound, gen);
}

// Fills `t` (float32, CPU) with key's initial value; false for the sin-cos tables (recomputed).
bool InitTensor(const std::string& key, at::Tensor& t, const BagelConfig& config,
                at::Generator& gen, int64_t fan_in) {
  const double qwen_std = config.llm.initializer_range;
  if (EndsWith(key, "pos_embed")) return false;
  if (StartsWith(key, "language_model.")) {
    if (Contains(key, "norm")) {
      t.fill_(1.0);
    } else if (EndsWith(key, ".bias")) {
      t.zero_();
    } else {
      t.normal_(0.0, qwen_std, gen);
      if (EndsWith(key, "embed_tokens.weight") && config.llm.pad_token_id) {
        t[*config.llm.pad_token_id].zero_();
      }
    }
  } else if (StartsWith(key, "vit_model.")) {
    if (Contains(key, "layer_norm") || Contains(key, "post_layernorm")) {
      EndsWith(key, ".weight") ? t.fill_(1.0) : t.zero_();
    } else if (EndsWith(key, "position_embedding.weight")) {
      t.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(config.vit.hidden_size)), gen);
    } else if (EndsWith(key, "patch_embedding.weight")) {
      TruncatedNormal_(t, std::sqrt(1.0 / t.size(1)) / 0.87962566103423978, gen);
    } else if (Contains(key, ".self_attn.")) {
      EndsWith(key, ".weight") ? XavierUniform_(t, gen) : (void)t.zero_();
    } else if (Contains(key, ".mlp.")) {
      EndsWith(key, ".weight") ? XavierUniform_(t, gen) : (void)t.normal_(0.0, 1e-6, gen);
    } else {
      t.zero_();  // patch_embedding.bias
    }
  } else if (StartsWith(key, "llm2vae.")) {
    t.zero_();
  } else {
    // connector, time_embedder, vae2llm: PyTorch's default Linear init.
    DefaultLinear_(t, fan_in, gen);
  }
  return true;
}

}  // namespace

void InitializeBagelWeights(BagelModel& model, const BagelConfig& config, uint64_t seed,
                            const std::set<std::string>* only) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard no_grad;
  auto params = model.named_parameters(/*recurse=*/true);
  for (const auto& item : params) {
    const std::string& key = item.key();
    at::Tensor param = item.value();
    if (param.is_meta()) continue;
    at::Tensor t = at::empty(param.sizes(), at::TensorOptions().dtype(at::kFloat));
    const std::string weight_key = key.substr(0, key.rfind('.')) + ".weight";
    const at::Tensor* w = params.find(weight_key);
    const int64_t fan_in = (w != nullptr && w->dim() == 2) ? w->size(1) : 1;
    if (!InitTensor(key, t, config, gen, fan_in)) continue;
    if (only != nullptr && only->count(key) == 0) continue;
    param.copy_(t);
  }
  if (model.vit_pos_embed) model.vit_pos_embed->ResetTable();
  if (model.latent_pos_embed) model.latent_pos_embed->ResetTable();
}

at::Tensor InitialValueForKey(const std::string& key, at::IntArrayRef shape,
                              const BagelConfig& config, uint64_t seed, int64_t fan_in) {
  const uint64_t key_hash = std::hash<std::string>{}(key);
  at::Generator gen = at::detail::createCPUGenerator(seed ^ (key_hash * 0x9E3779B97F4A7C15ull));
  at::NoGradGuard no_grad;
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  TORCH_CHECK(InitTensor(key, t, config, gen, fan_in), key, " is a sin-cos table, not initialised");
  return t;
}

}  // namespace bagel
