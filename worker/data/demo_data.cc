#include "worker/data/demo_data.h"

#include <ATen/CPUGeneratorImpl.h>

namespace bagel::data {
namespace {

constexpr int kColors = 8;
// RGB in [-1, 1]: black, white, red, green, blue, yellow, magenta, cyan.
constexpr float kPalette[kColors][3] = {{-1, -1, -1}, {1, 1, 1}, {1, -1, -1}, {-1, 1, -1},
                                        {-1, -1, 1},  {1, 1, -1}, {1, -1, 1}, {-1, 1, 1}};

}  // namespace

DemoData::DemoData(DemoDataOptions options, PackerConfig packer, SpecialTokens tokens)
    : options_(options),
      packer_config_(packer),
      tokens_(tokens),
      gen_(at::detail::createCPUGenerator(options.seed)) {}

Sample DemoData::ColorSample() {
  const int64_t color = at::randint(kColors, {1}, gen_, at::kLong).item<int64_t>();
  const int64_t side = options_.image_size;
  at::Tensor rgb = at::tensor({kPalette[color][0], kPalette[color][1], kPalette[color][2]}, at::kFloat);
  at::Tensor image = rgb.view({3, 1, 1}).expand({3, side, side}) +
                     0.1 * at::randn({3, side, side}, gen_, at::kFloat);
  Sample s;
  s.plan = {{PlanItemType::kText}, {PlanItemType::kVitImage}, {PlanItemType::kText, false, true}};
  at::Tensor prompt = at::randint(options_.vocab_for_text, {4}, gen_, at::kLong);
  s.text_ids = {std::vector<int64_t>(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + 4),
                {100 + color, 110 + color, 120 + color}};
  s.images = {image.clamp(-1, 1)};
  return s;
}

Sample DemoData::CopySample() {
  at::Tensor prompt = at::randint(options_.vocab_for_text - 1, {6}, gen_, at::kLong);
  std::vector<int64_t> p(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + 6), answer;
  for (int64_t id : p) answer.push_back(id + 1);
  Sample s;
  s.plan = {{PlanItemType::kText}, {PlanItemType::kText, false, true}};
  s.text_ids = {p, answer};
  return s;
}

PackedSequence DemoData::Next() {
  SequencePacker packer(packer_config_, tokens_);
  PackRandomness random{[&] { return at::rand({1}, gen_).item<double>(); },
                        [&] { return at::randn({1}, gen_).item<double>(); }};
  while (packer.num_tokens() < options_.expected_num_tokens) {
    packer.Add(samples_ % 3 == 2 ? CopySample() : ColorSample(), random);
    ++samples_;
  }
  return packer.Finish();
}

}  // namespace bagel::data
