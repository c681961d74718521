#include "worker/data/datasets/sample_builders.h"

#include <map>

#include "imaging/image_decode.h"
#include "tokenizer/qwen2_tokenizer.h"
#include "tokenizer/tokenizer_error.h"

namespace bagel::data {
namespace {

using nlohmann::json;

bool IsPySpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

// The code point starting at s[i] and its length (invalid bytes count as one non-space unit).
std::pair<uint32_t, size_t> DecodeAt(std::string_view s, size_t i) {
  const auto b = static_cast<uint8_t>(s[i]);
  auto cont = [&](size_t k) {
    return i + k < s.size() && (static_cast<uint8_t>(s[i + k]) & 0xc0) == 0x80;
  };
  if (b < 0x80) return {b, 1};
  if ((b & 0xe0) == 0xc0 && cont(1)) return {((b & 0x1fu) << 6) | (s[i + 1] & 0x3f), 2};
  if ((b & 0xf0) == 0xe0 && cont(1) && cont(2)) {
    return {((b & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3f), 3};
  }
  if ((b & 0xf8) == 0xf0 && cont(1) && cont(2) && cont(3)) {
    return {((b & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) | ((s[i + 2] & 0x3fu) << 6) |
                (s[i + 3] & 0x3f),
            4};
  }
  return {0xfffd, 1};
}

size_t StripEnd(std::string_view s) {
  // Walk forward remembering where the trailing whitespace run starts.
  size_t i = 0, end = 0;
  while (i < s.size()) {
    auto [c, n] = DecodeAt(s, i);
    i += n;
    if (!IsPySpace(c)) end = i;
  }
  return end;
}

size_t StripBegin(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto [c, n] = DecodeAt(s, i);
    if (!IsPySpace(c)) break;
    i += n;
  }
  return i;
}

std::vector<int64_t> Encode(const BuildContext& ctx, const std::string& text) {
  try {
    const auto ids = ctx.tokenizer->Encode(text);
    return std::vector<int64_t>(ids.begin(), ids.end());
  } catch (const tokenizer::TokenizerError& e) {
    throw SkipSample(kSkipMalformed, std::string("text cannot be tokenized: ") + e.what());
  }
}

PlanItem TextItem(bool loss, bool enable_cfg) {
  PlanItem p;
  p.type = PlanItemType::kText;
  p.loss = loss;
  p.enable_cfg = enable_cfg;
  return p;
}

PlanItem ImageItem(PlanItemType type, bool loss, bool enable_cfg) {
  PlanItem p;
  p.type = type;
  p.loss = loss;
  p.enable_cfg = enable_cfg;
  return p;
}

int64_t ImageTokens(const at::Tensor& t, int64_t stride) {
  return t.size(1) * t.size(2) / (stride * stride);
}

// The conversation of a VLM / text record as text and image elements (change_format).
struct Element {
  bool image = false;
  bool loss = false;
  std::string text;
};

std::vector<Element> ChangeFormat(const json& record, size_t num_images) {
  if (!record.contains("conversations") || !record["conversations"].is_array()) {
    throw SkipSample(kSkipMalformed, "no 'conversations' list");
  }
  std::vector<Element> out;
  for (const json& turn : record["conversations"]) {
    if (!turn.is_object() || !turn.contains("from") || !turn.contains("value") ||
        !turn["from"].is_string() || !turn["value"].is_string()) {
      throw SkipSample(kSkipMalformed, "a conversation turn needs string 'from' and 'value'");
    }
    const std::string from = turn["from"].get<std::string>();
    const std::string value = turn["value"].get<std::string>();
    if (from == "human") {
      if (value.find("<image>") == std::string::npos) {
        out.push_back({false, false, value});
        continue;
      }
      std::vector<std::string> pieces;
      size_t pos = 0;
      while (true) {
        const size_t at = value.find("<image>", pos);
        pieces.push_back(value.substr(pos, at == std::string::npos ? std::string::npos : at - pos));
        if (at == std::string::npos) break;
        pos = at + 7;
      }
      for (size_t k = 0; k < pieces.size(); ++k) {
        const std::string stripped = PyStrip(pieces[k]);
        if (!stripped.empty()) out.push_back({false, false, stripped});
        if (k != pieces.size() - 1 && k < num_images) out.push_back({true, false, ""});
      }
    } else if (from == "gpt") {
      out.push_back({false, true, value});
    }
  }
  return out;
}

// Text and image elements into the plan; images are the already transformed ViT tensors.
PreparedSample FromElements(const std::vector<Element>& elements, std::vector<at::Tensor> images,
                            int64_t image_tokens, const BuildContext& ctx) {
  PreparedSample p;
  p.num_tokens = image_tokens;
  size_t next_image = 0;
  for (const Element& e : elements) {
    if (e.image) {
      p.sample.plan.push_back(ImageItem(PlanItemType::kVitImage, false, false));
      p.sample.images.push_back(images.at(next_image++));
      continue;
    }
    std::vector<int64_t> ids = Encode(ctx, e.text);
    if (ids.empty()) continue;
    p.num_tokens += static_cast<int64_t>(ids.size());
    p.sample.plan.push_back(TextItem(e.loss, false));
    p.sample.text_ids.push_back(std::move(ids));
  }
  bool any_loss = false;
  for (const auto& item : p.sample.plan) any_loss |= item.loss;
  if (!any_loss) throw SkipSample(kSkipNoLoss, "no turn with a loss (no gpt answer)");
  return p;
}

imaging::RgbImage DecodeOrSkip(const std::optional<std::string>& bytes, const std::string& what) {
  if (!bytes || bytes->empty()) throw SkipSample(kSkipMissingImage, what + ": no image bytes");
  try {
    return imaging::DecodeImage(*bytes, what);
  } catch (const imaging::ImageDecodeError& e) {
    throw SkipSample(kSkipBadImage, e.what());
  }
}

const std::string& Choose(const std::vector<std::optional<std::string>>& options, CounterRng& rng,
                          const std::string& what) {
  if (options.empty()) throw SkipSample(kSkipMalformed, what + ": an empty instruction list");
  const auto& v = options[rng.Below(options.size())];
  if (!v) throw SkipSample(kSkipMalformed, what + ": a null instruction");
  return *v;
}

}  // namespace

std::string PyStrip(std::string_view s) {
  const size_t b = StripBegin(s);
  const size_t e = StripEnd(s);
  return b >= e ? std::string() : std::string(s.substr(b, e - b));
}

std::string PyRstrip(std::string_view s) { return std::string(s.substr(0, StripEnd(s))); }

PreparedSample BuildVlmSample(const json& record, const ImageLoader& load,
                              const BuildContext& ctx) {
  if (!record.is_object()) throw SkipSample(kSkipMalformed, "a record must be a JSON object");
  if (record.contains("video") && !record.contains("image")) {
    throw SkipSample(kSkipUnsupported, "video samples are not supported (no frame sampler)");
  }
  std::vector<std::string> names;
  if (record.contains("image")) {
    const json& im = record["image"];
    if (im.is_string()) {
      names.push_back(im.get<std::string>());
    } else if (im.is_array()) {
      for (const json& n : im) {
        if (!n.is_string()) throw SkipSample(kSkipMalformed, "'image' entries must be strings");
        names.push_back(n.get<std::string>());
      }
    } else {
      throw SkipSample(kSkipMalformed, "'image' must be a string or a list of strings");
    }
  }
  std::vector<imaging::RgbImage> raw;
  for (const auto& n : names) raw.push_back(load(n));
  std::vector<at::Tensor> images;
  int64_t image_tokens = 0;
  for (const auto& r : raw) {
    images.push_back((*ctx.vit_transform)(r, static_cast<int>(raw.size())));
    image_tokens += ImageTokens(images.back(), ctx.vit_transform->stride());
  }
  // The elements first: an argument list may move `images` before reading its size.
  const std::vector<Element> elements = ChangeFormat(record, images.size());
  return FromElements(elements, std::move(images), image_tokens, ctx);
}

PreparedSample BuildTextSample(const json& record, const BuildContext& ctx) {
  if (!record.is_object()) throw SkipSample(kSkipMalformed, "a record must be a JSON object");
  if (record.contains("text")) {
    if (!record["text"].is_string()) throw SkipSample(kSkipMalformed, "'text' must be a string");
    PreparedSample p;
    std::vector<int64_t> ids = Encode(ctx, record["text"].get<std::string>());
    if (ids.empty()) throw SkipSample(kSkipNoLoss, "empty text");
    p.num_tokens = static_cast<int64_t>(ids.size());
    p.sample.plan.push_back(TextItem(true, false));
    p.sample.text_ids.push_back(std::move(ids));
    return p;
  }
  return FromElements(ChangeFormat(record, 0), {}, 0, ctx);
}

PreparedSample BuildT2iSample(const std::optional<std::string>& image_bytes,
                              const std::optional<std::string>& captions, const std::string& what,
                              CounterRng& rng, const BuildContext& ctx) {
  const imaging::RgbImage image = DecodeOrSkip(image_bytes, what);
  if (!captions) throw SkipSample(kSkipMalformed, what + ": null captions");
  json doc;
  try {
    doc = json::parse(*captions);
  } catch (const json::exception& e) {
    throw SkipSample(kSkipMalformed, what + ": captions are not valid JSON: " + e.what());
  }
  if (!doc.is_object()) throw SkipSample(kSkipMalformed, what + ": captions must be a JSON object");
  std::vector<std::string> texts;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (!it.value().is_string())
      throw SkipSample(kSkipMalformed, what + ": caption '" + it.key() + "' is not a string");
    texts.push_back(it.value().get<std::string>());
  }
  std::vector<int64_t> ids =
      Encode(ctx, texts.empty() ? std::string(" ") : texts[rng.Below(texts.size())]);
  PreparedSample p;
  at::Tensor t = (*ctx.vae_transform)(image);
  p.num_tokens = ImageTokens(t, ctx.vae_transform->stride()) + static_cast<int64_t>(ids.size());
  p.sample.plan = {TextItem(false, true), ImageItem(PlanItemType::kVaeImage, true, false)};
  p.sample.text_ids.push_back(std::move(ids));
  p.sample.images.push_back(std::move(t));
  return p;
}

PreparedSample BuildEditSample(
    const std::vector<std::optional<std::string>>& image_list,
    const std::vector<std::vector<std::optional<std::string>>>& instruction_list,
    const std::string& what, CounterRng& rng, const BuildContext& ctx) {
  const int64_t n = static_cast<int64_t>(image_list.size());
  if (n < 2) throw SkipSample(kSkipMalformed, what + ": an edit needs at least two images");
  if (static_cast<int64_t>(instruction_list.size()) < n - 1) {
    throw SkipSample(kSkipMalformed, what + ": " + std::to_string(n) + " images but " +
                                         std::to_string(instruction_list.size()) +
                                         " instruction lists (need images - 1)");
  }
  const int64_t start = static_cast<int64_t>(rng.Below(n - 1));
  const int64_t max_end = std::min(start + 3, n);
  int64_t end = start + 1 + static_cast<int64_t>(rng.Below(max_end - start - 1));

  PreparedSample p;
  std::map<int64_t, imaging::RgbImage> decoded;
  auto image = [&](int64_t i) -> const imaging::RgbImage& {
    auto it = decoded.find(i);
    if (it == decoded.end()) {
      it = decoded.emplace(i, DecodeOrSkip(image_list[i], what + " image " + std::to_string(i)))
               .first;
    }
    return it->second;
  };
  auto add_text = [&](const std::string& text) {
    std::vector<int64_t> ids = Encode(ctx, text);
    p.num_tokens += static_cast<int64_t>(ids.size());
    p.sample.text_ids.push_back(std::move(ids));
    p.sample.plan.push_back(TextItem(false, true));
  };
  auto add_image = [&](int64_t i, bool loss, bool vae, bool vit) {
    if (loss) {
      p.sample.plan.push_back(ImageItem(PlanItemType::kVaeImage, true, false));
      p.sample.images.push_back((*ctx.vae_transform)(image(i)));
      p.num_tokens += ImageTokens(p.sample.images.back(), ctx.vae_transform->stride());
    }
    if (vae) {
      p.sample.plan.push_back(ImageItem(PlanItemType::kVaeImage, false, true));
      p.sample.images.push_back((*ctx.vae_transform)(image(i)));
      p.num_tokens += ImageTokens(p.sample.images.back(), ctx.vae_transform->stride());
    }
    if (vit) {
      p.sample.plan.push_back(ImageItem(PlanItemType::kVitImage, false, true));
      p.sample.images.push_back((*ctx.vit_transform)(image(i)));
      p.num_tokens += ImageTokens(p.sample.images.back(), ctx.vit_transform->stride());
    }
  };
  add_image(start, false, true, true);
  if (end - start > 1 && rng.Uniform() < 0.5) {
    if (end == n - 1) end -= 1;
    std::string instruction;
    for (int64_t idx = start + 1; idx <= end; ++idx) {
      instruction += Choose(instruction_list[idx - 1], rng, what) + ". ";
    }
    add_text(PyRstrip(instruction));
    add_image(end, true, false, false);
  } else {
    for (int64_t idx = start + 1; idx <= end; ++idx) {
      add_text(Choose(instruction_list[idx - 1], rng, what));
      if (idx != end) {
        add_image(idx, true, true, true);
      } else {
        add_image(idx, true, false, false);
      }
    }
  }
  return p;
}

}  // namespace bagel::data
