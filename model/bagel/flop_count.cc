#include "model/bagel/flop_count.h"

namespace bagel {
namespace {

constexpr double kFwdBwd = 3.0;  // backward costs twice the forward
constexpr double kPerMac = 2.0;

double Count(const at::Tensor& t) { return t.defined() ? static_cast<double>(t.numel()) : 0.0; }

}  // namespace

FlopBreakdown ExecutedFlops(const BagelConfig& c, const PackedBatch& b) {
  FlopBreakdown f;
  const double h = static_cast<double>(c.llm.hidden_size);
  const double qo = static_cast<double>(c.llm.num_attention_heads * c.llm.head_dim());
  const double kv = static_cast<double>(c.llm.num_key_value_heads * c.llm.head_dim());
  const double inter = static_cast<double>(c.llm.intermediate_size);
  const double layers = static_cast<double>(c.llm.num_hidden_layers);
  const double n = static_cast<double>(b.sequence_length);
  const double per_token = layers * (h * (qo + kv + kv) + qo * h + 3 * h * inter);
  f.llm_linear = kFwdBwd * kPerMac * per_token * n;
  double sq = 0;
  int64_t covered = 0;
  for (int64_t len : b.sample_lens) {
    const int64_t real = std::max<int64_t>(0, std::min(len, b.sequence_length - covered));
    covered += len;
    sq += static_cast<double>(real) * real;
  }
  f.llm_attention = kFwdBwd * kPerMac * layers * 2 * sq * qo;
  if (b.has_vit()) {
    const double vh = static_cast<double>(c.vit.hidden_size);
    const double vi = static_cast<double>(c.vit.intermediate_size);
    const double vl = static_cast<double>(c.vit_layers_built);
    const double patch = static_cast<double>(b.packed_vit_tokens.size(1));
    const double nv = Count(b.packed_vit_token_indexes);
    double vsq = 0;
    for (int64_t s : b.vit_token_seqlens) vsq += static_cast<double>(s) * s;
    f.vit = kFwdBwd * kPerMac *
            (nv * (patch * vh + vl * (4 * vh * vh + 2 * vh * vi)) + vl * 2 * vsq * vh);
    f.connector = kFwdBwd * kPerMac * nv * (vh * h + h * h);
  }
  f.lm_head =
      kFwdBwd * kPerMac * Count(b.ce_loss_indexes) * h * static_cast<double>(c.llm.vocab_size);
  if (c.visual_gen && b.has_latents()) {
    const double lat = Count(b.packed_vae_token_indexes);
    const double pd = static_cast<double>(c.patch_latent_dim());
    f.gen_heads =
        kFwdBwd * kPerMac * (lat * (pd * h + 256 * h + h * h) + Count(b.mse_loss_indexes) * h * pd);
  }
  return f;
}

double BagelMfuFlops(const BagelConfig& c, const PackedBatch& b) {
  double sq = 0;
  for (int64_t len : b.sample_lens) sq += static_cast<double>(len) * len;
  return BagelMfuFlops(c, static_cast<double>(b.sequence_length), sq);
}

double BagelMfuFlops(const BagelConfig& c, double tokens, double sq) {
  const double h = static_cast<double>(c.llm.hidden_size);
  const double qkvo = static_cast<double>(2 * c.llm.num_attention_heads * c.llm.head_dim() +
                                          2 * c.llm.num_key_value_heads * c.llm.head_dim());
  const double dense_n = static_cast<double>(c.llm.num_hidden_layers) *
                             (3 * h * static_cast<double>(c.llm.intermediate_size) + h * qkvo) +
                         2 * static_cast<double>(c.llm.vocab_size) * h;
  return 6 * dense_n * tokens +
         12 *
             static_cast<double>(c.llm.head_dim() * c.llm.num_attention_heads *
                                 c.llm.num_hidden_layers) *
             sq;
}

}  // namespace bagel
