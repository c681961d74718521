#include "worker/data/demo_data.h"

#include <ATen/CPUGeneratorImpl.h>

namespace bagel::data {
namespace {

constexpr int kColors = 8;
// RGB in [-1, 1]: black, white, red, green, blue, yellow, magenta, cyan.
constexpr float kPalette[kColors][3] = {{-1, -1, -1}, {1, 1, 1},  {1, -1, -1}, {-1, 1, -1},
                                        {-1, -1, 1},  {1, 1, -1}, {1, -1, 1},  {-1, 1, 1}};

at::Tensor ColorImage(int64_t color, int64_t side, at::Generator& gen) {
  at::Tensor rgb =
      at::tensor({kPalette[color][0], kPalette[color][1], kPalette[color][2]}, at::kFloat);
  return (rgb.view({3, 1, 1}).expand({3, side, side}) +
          0.1 * at::randn({3, side, side}, gen, at::kFloat))
      .clamp(-1, 1);
}

std::vector<int64_t> Ids(const at::Tensor& t) {
  at::Tensor l = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

}  // namespace

DemoData::DemoData(DemoDataOptions options, PackerConfig packer, SpecialTokens tokens)
    : options_(options), packer_config_(packer), tokens_(tokens) {}

Sample DemoData::SampleAt(int64_t index) const {
  at::Generator gen =
      at::detail::createCPUGenerator(options_.seed * 1000003ull + static_cast<uint64_t>(index));
  const int kinds = options_.generation ? 3 : 2;
  const int64_t kind = index % (kinds + 1) == kinds ? 1 : index % kinds;  // color-heavy mix
  const int64_t color = at::randint(kColors, {1}, gen, at::kLong).item<int64_t>();
  Sample s;
  if (kind == 0) {  // color VLM
    s.plan = {{PlanItemType::kText}, {PlanItemType::kVitImage}, {PlanItemType::kText, false, true}};
    s.text_ids = {Ids(at::randint(options_.vocab_for_text, {4}, gen, at::kLong)),
                  {100 + color, 110 + color, 120 + color}};
    s.images = {ColorImage(color, options_.image_size, gen)};
  } else if (kind == 1) {  // copy
    std::vector<int64_t> prompt =
        Ids(at::randint(options_.vocab_for_text - 1, {6}, gen, at::kLong));
    std::vector<int64_t> answer;
    for (int64_t id : prompt) answer.push_back(id + 1);
    s.plan = {{PlanItemType::kText}, {PlanItemType::kText, false, true}};
    s.text_ids = {prompt, answer};
  } else {  // paint (T2I)
    s.plan = {{PlanItemType::kText, /*enable_cfg=*/true},
              {PlanItemType::kVaeImage, false, /*loss=*/true}};
    s.text_ids = {{130 + color, 140 + color}};
    s.images = {ColorImage(color, options_.vae_image_size, gen)};
  }
  return s;
}

PackedSequence DemoData::Next() {
  SequencePacker packer(packer_config_, tokens_);
  while (packer.num_tokens() < options_.expected_num_tokens) {
    const int64_t index = position_ * options_.world_size + options_.rank;
    at::Generator gen =
        at::detail::createCPUGenerator(options_.seed * 7919ull + static_cast<uint64_t>(index));
    PackRandomness random{[&] { return at::rand({1}, gen).item<double>(); },
                          [&] { return at::randn({1}, gen).item<double>(); }};
    packer.Add(SampleAt(index), random);
    ++position_;
  }
  return packer.Finish();
}

}  // namespace bagel::data
