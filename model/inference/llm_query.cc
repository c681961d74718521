#include "model/inference/llm_query.h"

#include <c10/util/Exception.h>

namespace bagel {
namespace {

// Rows of `x` for each expert, computed by `und` and `gen` on their own rows and put back in
// query order. Rows in neither set stay zero, as in the official scatter into zeros.
template <typename Und, typename Gen>
at::Tensor PerExpert(const at::Tensor& x, const LlmQuery& q, int64_t out_dim, Und und, Gen gen) {
  if (q.mode == ExpertMode::kUnderstanding) return und(x);
  at::Tensor u = und(x.index_select(0, q.und_rows));
  at::Tensor g = gen(x.index_select(0, q.gen_rows));
  at::Tensor out = at::zeros({x.size(0), out_dim}, u.options());
  out.index_put_({q.und_rows}, u);
  out.index_put_({q.gen_rows}, g);
  return out;
}

// Attention of the query [q, Hq, d] over cache + query keys/values [T, Hkv, d], one sequence.
at::Tensor CachedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           bool causal) {
  const int64_t lq = q.size(0), lk = k.size(0), rep = q.size(1) / k.size(1);
  at::Tensor qh = q.transpose(0, 1).unsqueeze(0);  // [1, Hq, q, d]
  at::Tensor kh = k.transpose(0, 1).unsqueeze(0);  // [1, Hkv, T, d]
  at::Tensor vh = v.transpose(0, 1).unsqueeze(0);
  if (rep > 1) {
    kh = kh.repeat_interleave(rep, 1);
    vh = vh.repeat_interleave(rep, 1);
  }
  std::optional<at::Tensor> mask;
  if (causal) {
    // Bottom-right aligned: query i sees every cached key and query keys up to i.
    mask = at::ones({lq, lk}, q.options().dtype(at::kBool)).tril(lk - lq);
  }
  at::Tensor a = at::scaled_dot_product_attention(qh, kh, vh, mask);  // [1, Hq, q, d]
  return a.squeeze(0).transpose(0, 1);                                // [q, Hq, d]
}

}  // namespace

LlmQueryResult RunLlmQuery(const Qwen2Model& lm, const LlmConfig& c, const KvCache& cache,
                           const LlmQuery& query, bool update_cache) {
  const bool gen = query.mode == ExpertMode::kGeneration;
  TORCH_CHECK(!gen || lm.use_moe(),
              "image generation needs a Stage 2 model (MoT layers with *_moe_gen weights)");
  TORCH_INTERNAL_ASSERT(query.embeddings.dim() == 2 &&
                        query.embeddings.size(0) == query.position_ids.size(0));
  TORCH_INTERNAL_ASSERT(!gen || (query.und_rows.defined() && query.gen_rows.defined()));
  const int64_t layers = lm.num_layers();
  TORCH_CHECK(cache.empty() || static_cast<int64_t>(cache.keys.size()) == layers, "KV cache has ",
              cache.keys.size(), " layers, the model ", layers);
  const int64_t n = query.embeddings.size(0), hidden = c.hidden_size;
  const int64_t heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const int64_t d = c.head_dim();
  const RopeTables rope =
      lm.rotary_emb().Tables(query.position_ids, query.embeddings.scalar_type());

  LlmQueryResult result;
  if (update_cache) {
    result.cache.keys.resize(layers);
    result.cache.values.resize(layers);
  }
  at::Tensor x = query.embeddings;
  for (int64_t i = 0; i < layers; ++i) {
    const Qwen2DecoderLayer& layer = lm.layer(i);
    const Qwen2Attention& attn = *layer.self_attn;
    const bool mot = layer.is_mot();
    TORCH_INTERNAL_ASSERT(!gen || mot);

    at::Tensor normed = PerExpert(
        x, query, hidden, [&](const at::Tensor& r) { return layer.input_layernorm->Forward(r); },
        [&](const at::Tensor& r) { return layer.input_layernorm_moe_gen->Forward(r); });
    auto project = [&](const std::shared_ptr<nn::Linear>& und_proj,
                       const std::shared_ptr<nn::Linear>& gen_proj, int64_t out_heads) {
      return PerExpert(
                 normed, query, out_heads * d,
                 [&](const at::Tensor& r) { return und_proj->Forward(r); },
                 [&](const at::Tensor& r) { return gen_proj->Forward(r); })
          .view({n, out_heads, d});
    };
    at::Tensor q = project(attn.q_proj, attn.q_proj_moe_gen, heads);
    at::Tensor k = project(attn.k_proj, attn.k_proj_moe_gen, kv_heads);
    at::Tensor v = project(attn.v_proj, attn.v_proj_moe_gen, kv_heads);
    if (attn.q_norm) {
      auto head_norm = [&](const at::Tensor& t, const std::shared_ptr<nn::RmsNorm>& und_norm,
                           const std::shared_ptr<nn::RmsNorm>& gen_norm) {
        if (!gen) return und_norm->Forward(t);
        at::Tensor out = at::zeros_like(t);
        out.index_put_({query.und_rows}, und_norm->Forward(t.index_select(0, query.und_rows)));
        out.index_put_({query.gen_rows}, gen_norm->Forward(t.index_select(0, query.gen_rows)));
        return out;
      };
      q = head_norm(q, attn.q_norm, attn.q_norm_moe_gen);
      k = head_norm(k, attn.k_norm, attn.k_norm_moe_gen);
    }
    q = ApplyRotary(q, rope);
    k = ApplyRotary(k, rope);
    at::Tensor keys = k, values = v;
    if (!cache.empty()) {
      keys = at::cat({cache.keys[i], k}, 0);
      values = at::cat({cache.values[i], v}, 0);
    }
    if (update_cache) {
      result.cache.keys[i] = keys;
      result.cache.values[i] = values;
    }
    at::Tensor a = CachedAttention(q, keys, values, query.causal).reshape({n, heads * d});
    at::Tensor o = PerExpert(
        a, query, hidden, [&](const at::Tensor& r) { return attn.o_proj->Forward(r); },
        [&](const at::Tensor& r) { return attn.o_proj_moe_gen->Forward(r); });
    at::Tensor h = x + o;
    at::Tensor m = PerExpert(
        h, query, hidden,
        [&](const at::Tensor& r) {
          return layer.mlp->Forward(layer.post_attention_layernorm->Forward(r));
        },
        [&](const at::Tensor& r) {
          return layer.mlp_moe_gen->Forward(layer.post_attention_layernorm_moe_gen->Forward(r));
        });
    x = h + m;
  }
  result.hidden = PerExpert(
      x, query, hidden, [&](const at::Tensor& r) { return lm.norm->Forward(r); },
      [&](const at::Tensor& r) { return lm.norm_moe_gen->Forward(r); });
  return result;
}

}  // namespace bagel
