// Turns one record of an official dataset into a packer Sample with the official sequence plan
// (BAGEL.md §2.3, §3.1, §8) and its token count (the packer's budget: text ids plus
// H*W/stride^2 per image; the +2 per plan item is added by PreparedSample::cost):
//
//   VLM SFT line   {"image": str | [str...], "conversations": [{"from": "human"|"gpt", ...}]}:
//                  human turns split on <image> into stripped text items (no loss) and ViT
//                  images (placeholders beyond the image count are dropped; turns without
//                  <image> keep their text unstripped), gpt turns are text items with loss; the
//                  ViT transform gets img_num = the number of images; no loss -> skipped.
//   text line      {"conversations": [...]} as above without images, or {"text": "..."}: one
//                  text item with loss.
//   T2I row        image bytes + captions (a JSON object; one value chosen at random, " " when
//                  empty): caption (CFG-droppable, no loss), then a noised VAE image (MSE).
//   edit row       image_list + instruction_list: a random chain start..end (at most 2 steps),
//                  the source image as clean VAE + ViT (both CFG-droppable), then either each
//                  step's instruction followed by its image (noised VAE with loss; intermediate
//                  images also as clean VAE + ViT), or with probability 1/2 for multi-step
//                  chains all instructions joined with ". " and only the final target (end
//                  decremented when it is the last image), as UnifiedEditIterableDataset does.
//
// Bad records throw SkipSample with a reason (a metric name) and a message; image decoding
// errors are reported as "missing_image" or "bad_image".
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "contract/skip_reasons.h"
#include "imaging/rgb_image.h"
#include "model/inference/image_transform.h"
#include "worker/data/datasets/counter_rng.h"
#include "worker/data/sequence_plan.h"

namespace bagel::tokenizer {
class Qwen2Tokenizer;
}

namespace bagel::data {

// The skipped-record reasons are part of the trainer's contract (contract/skip_reasons.h).
using contract::kAllSkipReasons;
using contract::kSkipBadImage;
using contract::kSkipDroppedAtYield;
using contract::kSkipMalformed;
using contract::kSkipMissingImage;
using contract::kSkipNoLoss;
using contract::kSkipOther;
using contract::kSkipTooLong;
using contract::kSkipUnreadable;
using contract::kSkipUnsupported;
using contract::ReportedSkipReason;

class SkipSample : public std::runtime_error {
 public:
  SkipSample(std::string reason, const std::string& message)
      : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct PreparedSample {
  Sample sample;
  int64_t num_tokens = 0;  // the official sample['num_tokens']
  int64_t cost() const { return num_tokens + 2 * static_cast<int64_t>(sample.plan.size()); }
};

// What the builders need: the tokenizer and the group's transforms.
struct BuildContext {
  const tokenizer::Qwen2Tokenizer* tokenizer = nullptr;
  const ImageTransform* vit_transform = nullptr;
  const ImageTransform* vae_transform = nullptr;
};

// Loads an image by the name a record gives (a path under the image root); throws SkipSample.
using ImageLoader = std::function<imaging::RgbImage(const std::string& name)>;

PreparedSample BuildVlmSample(const nlohmann::json& record, const ImageLoader& load,
                              const BuildContext& ctx);
PreparedSample BuildTextSample(const nlohmann::json& record, const BuildContext& ctx);
PreparedSample BuildT2iSample(const std::optional<std::string>& image_bytes,
                              const std::optional<std::string>& captions, const std::string& what,
                              CounterRng& rng, const BuildContext& ctx);
PreparedSample BuildEditSample(
    const std::vector<std::optional<std::string>>& images,
    const std::vector<std::vector<std::optional<std::string>>>& instructions,
    const std::string& what, CounterRng& rng, const BuildContext& ctx);

// Python's str.strip() / rstrip() on ASCII and Unicode whitespace of a UTF-8 string.
std::string PyStrip(std::string_view s);
std::string PyRstrip(std::string_view s);

}  // namespace bagel::data
