// A training sample as the packer sees it (BAGEL.md §2.3): a sequence plan of text, ViT-image
// and VAE-image items with their flags, the text ids of the text items (without BOS/EOS) and
// the already-transformed images ([3, H, W] in [-1, 1]) of the image items, in plan order.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace bagel::data {

enum class PlanItemType { kText, kVitImage, kVaeImage };

struct PlanItem {
  PlanItemType type = PlanItemType::kText;
  bool enable_cfg = false;          // may be dropped for classifier-free guidance
  bool loss = false;                // text: CE on it; VAE image: noised, MSE on it
  bool special_token_loss = false;  // CE on the closing <|im_end|> / <|vision_end|>
  std::optional<int64_t> special_token_label;
};

struct Sample {
  std::vector<PlanItem> plan;
  std::vector<std::vector<int64_t>> text_ids;  // one per text item
  std::vector<at::Tensor> images;              // one per image item
};

// The ids of <|im_start|>, <|im_end|>, <|vision_start|>, <|vision_end|> (looked up from the
// tokenizer for real vocabularies).
struct SpecialTokens {
  int64_t bos = 151644;
  int64_t eos = 151645;
  int64_t start_of_image = 151652;
  int64_t end_of_image = 151653;
};

}  // namespace bagel::data
