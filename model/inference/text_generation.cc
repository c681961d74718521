#include "model/inference/text_generation.h"

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include "model/inference/llm_query.h"

namespace bagel {

TextGenerationResult GenerateText(const InferenceModel& model, const InferenceContext& context,
                                  const TextGenerationOptions& o) {
  c10::InferenceMode guard;
  TORCH_CHECK(o.max_length >= 1, "max_length must be at least 1, got ", o.max_length);
  TORCH_CHECK(!o.do_sample || o.temperature > 0, "temperature must be positive, got ",
              o.temperature);
  const at::Device device = model.device();
  TextGenerationResult out;
  KvCache cache = context.cache;
  int64_t position = context.rope;
  int64_t token = model.tokens.bos;
  while (static_cast<int>(out.ids.size()) < o.max_length) {
    out.ids.push_back(token);
    LlmQuery q;
    q.embeddings = model.Embed({token});
    q.position_ids = at::full({1}, position, at::TensorOptions().dtype(at::kLong).device(device));
    q.causal = true;
    LlmQueryResult r = RunLlmQuery(model.lm(), model.config().llm, cache, q, true);
    cache = std::move(r.cache);
    at::Tensor logits =
        model.modules().language_model->lm_head->Forward(r.hidden).to(at::kFloat);  // [1, vocab]
    if (!out.first_logits.defined()) out.first_logits = logits[0].to(at::kCPU);
    if (o.do_sample) {
      at::Tensor probs = at::softmax(logits / o.temperature, -1);
      token = at::multinomial(probs.to(at::kCPU), 1, false, o.generator).item<int64_t>();
    } else {
      token = logits.argmax(-1).item<int64_t>();
    }
    ++position;
    if (o.progress) o.progress(static_cast<int>(out.ids.size()), o.max_length);
    if (token == model.tokens.eos) break;
  }
  return out;
}

}  // namespace bagel
