#include "worker/data/synthetic_samples.h"

#include <c10/util/Exception.h>

namespace bagel::data {
namespace {

std::vector<int64_t> Text(int64_t n, int64_t vocab, at::Generator& gen) {
  at::Tensor ids = at::randint(vocab, {n}, gen, at::kLong);
  return std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n);
}

at::Tensor Image(int64_t h, int64_t w, at::Generator& gen) {
  return at::rand({3, h, w}, gen, at::kFloat) * 2 - 1;
}

PlanItem T(bool loss, bool cfg = false) { return {PlanItemType::kText, cfg, loss}; }
PlanItem Vit(bool cfg = false) { return {PlanItemType::kVitImage, cfg, false}; }
PlanItem Vae(bool loss, bool cfg = false) { return {PlanItemType::kVaeImage, cfg, loss}; }

}  // namespace

Sample TinySample(const std::string& kind, int64_t vocab, at::Generator& gen) {
  Sample s;
  if (kind == "text") {
    s.plan = {T(true)};
    s.text_ids = {Text(9, vocab, gen)};
  } else if (kind == "vlm") {
    s.plan = {T(false), Vit(), T(false), T(true)};
    s.text_ids = {Text(5, vocab, gen), Text(4, vocab, gen), Text(7, vocab, gen)};
    s.images = {Image(28, 42, gen)};
  } else if (kind == "vlm2") {
    s.plan = {T(false), Vit(), Vit(), T(true), T(false), T(true)};
    s.text_ids = {Text(3, vocab, gen), Text(6, vocab, gen), Text(2, vocab, gen),
                  Text(5, vocab, gen)};
    s.images = {Image(14, 28, gen), Image(42, 14, gen)};
  } else if (kind == "t2i") {
    s.plan = {T(false, true), Vae(true)};
    s.text_ids = {Text(6, vocab, gen)};
    s.images = {Image(32, 48, gen)};
  } else if (kind == "edit") {
    s.plan = {Vae(false, true), Vit(true), T(false, true), Vae(true)};
    s.text_ids = {Text(5, vocab, gen)};
    s.images = {Image(32, 32, gen), Image(28, 28, gen), Image(32, 32, gen)};
  } else {
    TORCH_CHECK(false, "unknown sample kind '", kind, "' (text, vlm, vlm2, t2i, edit)");
  }
  return s;
}

Sample SmallSample(const std::string& kind, int64_t vocab, at::Generator& gen) {
  Sample s;
  if (kind == "vlm") {
    s.plan = {T(false), Vit(), T(true)};
    s.text_ids = {Text(32, vocab, gen), Text(200, vocab, gen)};
    s.images = {Image(224, 224, gen)};
  } else if (kind == "t2i") {
    s.plan = {T(false, true), Vae(true)};
    s.text_ids = {Text(32, vocab, gen)};
    s.images = {Image(256, 256, gen)};
  } else {
    TORCH_CHECK(false, "unknown small sample kind '", kind, "' (vlm, t2i)");
  }
  return s;
}

}  // namespace bagel::data
