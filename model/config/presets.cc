#include "model/config/presets.h"

#include <c10/util/Exception.h>

namespace bagel {
namespace {

BagelConfig Make(int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv_heads,
                 int64_t vocab, int64_t vit_hidden, int64_t vit_inter, int64_t vit_layers_in_file,
                 int64_t vit_heads, int64_t max_latent_size) {
  BagelConfig c;
  c.llm.vocab_size = vocab;
  c.llm.hidden_size = hidden;
  c.llm.intermediate_size = inter;
  c.llm.num_hidden_layers = layers;
  c.llm.num_attention_heads = heads;
  c.llm.num_key_value_heads = kv_heads;
  c.llm.rope_theta = 1e6;
  c.llm.rms_norm_eps = 1e-6;
  c.llm.max_position_embeddings = 32768;
  c.vit.hidden_size = vit_hidden;
  c.vit.intermediate_size = vit_inter;
  c.vit.num_hidden_layers = vit_layers_in_file;
  c.vit.num_attention_heads = vit_heads;
  c.vit.patch_size = 14;
  c.vit.image_size = 980;
  c.max_latent_size = max_latent_size;
  c.visual_gen = true;
  c.has_bagel_json = true;
  return c;
}

// The Qwen2 vocabulary with BAGEL's special tokens (tokenizer ids 151643..151664).
void QwenSpecials(BagelConfig& c) {
  c.llm.pad_token_id = 151643;
  c.llm.bos_token_id = 151643;
  c.llm.eos_token_id = 151645;
}

}  // namespace

BagelConfig PresetConfig(const std::string& name) {
  if (name == "tiny") {
    BagelConfig c = Make(64, 128, 2, 4, 2, 256, 32, 64, 3, 2, 8);
    c.llm.pad_token_id = 0;
    c.llm.bos_token_id = 252;
    c.llm.eos_token_id = 253;
    return c;
  }
  if (name == "small") {
    BagelConfig c = Make(512, 1536, 6, 8, 4, 151665, 384, 1536, 5, 6, 32);
    QwenSpecials(c);
    return c;
  }
  if (name == "medium") {
    BagelConfig c = Make(1536, 8960, 28, 12, 2, 151665, 1152, 4304, 27, 16, 64);
    QwenSpecials(c);
    return c;
  }
  if (name == "bagel-7b") {
    BagelConfig c = Make(3584, 18944, 28, 28, 4, 152064, 1152, 4304, 27, 16, 64);
    c.llm.bos_token_id = 151643;
    c.llm.eos_token_id = 151645;
    return c;
  }
  TORCH_CHECK(false, "unknown model preset '", name,
              "' (expected tiny, small, medium or bagel-7b)");
}

std::vector<std::string> PresetNames() { return {"tiny", "small", "medium", "bagel-7b"}; }

}  // namespace bagel
