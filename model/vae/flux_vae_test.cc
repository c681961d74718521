#include "model/vae/flux_vae.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/io/safetensors.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace bagel::vae {
namespace {

namespace fs = std::filesystem;

FluxVaeParams SmallParams() {
  FluxVaeParams p;
  p.ch = 32;
  p.ch_mult = {1, 2};
  p.num_res_blocks = 1;
  p.z_channels = 4;
  return p;
}

std::shared_ptr<FluxVae> SmallVae(uint64_t seed = 3) {
  auto vae = std::make_shared<FluxVae>(SmallParams(), at::kFloat);
  vae->InitializeRandom(seed);
  return vae;
}

std::map<std::string, at::Tensor> StateDict(const FluxVae& vae) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : vae.named_parameters()) out[item.key()] = item.value().detach();
  return out;
}

std::string LoadError(const std::string& path) {
  try {
    FluxVae::Load(path);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

// The official trainer encodes under bf16 autocast: convolutions in bf16, group norms and the
// posterior sample in float32. UseComputeDtype does the same without autocast.
TEST(FluxVaeTest, Bf16EncodeKeepsNormsAndTheSampleInFloat32) {
  auto fp32 = SmallVae(5);
  auto bf16 = SmallVae(5);
  bf16->UseComputeDtype(at::kBFloat16);
  for (const auto& item : bf16->named_parameters()) {
    const bool norm = item.key().find("norm") != std::string::npos;
    EXPECT_EQ(item.value().scalar_type(), norm ? at::kFloat : at::kBFloat16) << item.key();
  }
  EXPECT_EQ(
      bf16->encoder->norm_out->Forward(at::randn({1, 64, 4, 4}).to(at::kBFloat16)).scalar_type(),
      at::kFloat);
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor images = at::rand({2, 3, 32, 32}, gen) * 2 - 1;
  const at::Tensor noise = at::randn({2, 4, 16, 16}, gen);
  VaeEncodeOptions sample;
  sample.noise = noise;
  const at::Tensor want = fp32->Encode(images, sample);
  const at::Tensor got = bf16->Encode(images, sample);
  EXPECT_EQ(got.scalar_type(), at::kFloat);
  const double rel = ((got - want).norm() / want.norm()).item<double>();
  EXPECT_LT(rel, 0.02) << "bf16 encode is " << rel << " from float32 (norm-relative)";
  EXPECT_GT(rel, 0.0);  // it did compute in bf16
  // And back: kFloat restores float32 convolutions.
  bf16->UseComputeDtype(at::kFloat);
  EXPECT_EQ(bf16->encoder->conv_in->weight.scalar_type(), at::kFloat);
}

TEST(FluxVaeTest, LoadInfersTheShapeAndCopiesEveryTensor) {
  auto vae = SmallVae();
  const bagel::testing::TempDir dir;
  const std::string path = dir.File("roundtrip.safetensors");
  io::WriteSafetensors(path, StateDict(*vae));
  auto loaded = FluxVae::Load(path);
  EXPECT_EQ(loaded->params().ch, 32);
  EXPECT_EQ(loaded->params().ch_mult, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(loaded->params().num_res_blocks, 1);
  EXPECT_EQ(loaded->params().z_channels, 4);
  EXPECT_EQ(loaded->params().downsample(), 2);
  for (const auto& [name, t] : StateDict(*vae)) {
    EXPECT_TRUE(at::equal(t, *loaded->named_parameters().find(name))) << name;
  }
}

TEST(FluxVaeTest, StrictLoadingNamesTheMissingUnexpectedOrMisshapenKey) {
  auto sd = StateDict(*SmallVae());
  const bagel::testing::TempDir dir;
  const std::string path = dir.File("strict.safetensors");

  auto missing = sd;
  missing.erase("decoder.up.1.block.0.conv1.bias");
  io::WriteSafetensors(path, missing);
  {
    const std::string e = LoadError(path);
    EXPECT_NE(e.find("missing key 'decoder.up.1.block.0.conv1.bias'"), std::string::npos) << e;
  }

  auto extra = sd;
  extra["decoder.up.0.attn.0.q.weight"] = at::zeros({1});
  io::WriteSafetensors(path, extra);
  {
    const std::string e = LoadError(path);
    EXPECT_NE(e.find("unexpected key 'decoder.up.0.attn.0.q.weight'"), std::string::npos) << e;
  }

  auto reshaped = sd;
  reshaped["encoder.mid.attn_1.q.weight"] = at::zeros({64, 64, 3, 3});
  io::WriteSafetensors(path, reshaped);
  {
    const std::string e = LoadError(path);
    EXPECT_NE(e.find("'encoder.mid.attn_1.q.weight' has shape"), std::string::npos) << e;
  }

  auto no_conv_in = sd;
  no_conv_in.erase("encoder.conv_in.weight");
  io::WriteSafetensors(path, no_conv_in);
  {
    const std::string e = LoadError(path);
    EXPECT_NE(e.find("'encoder.conv_in.weight'"), std::string::npos) << e;
  }
}

TEST(FluxVaeTest, PosteriorSampleIsMeanPlusStdTimesInjectedNoise) {
  auto vae = SmallVae();
  at::Generator gen = at::detail::createCPUGenerator(5);
  at::Tensor images = at::rand({2, 3, 8, 12}, gen, at::kFloat) * 2 - 1;
  at::Tensor noise = at::randn({2, 4, 4, 6}, gen, at::kFloat);
  at::NoGradGuard no_grad;
  at::Tensor moments = vae->EncodeMoments(images);
  ASSERT_EQ(moments.sizes(), (std::vector<int64_t>{2, 8, 4, 6}));
  at::Tensor mean = moments.narrow(1, 0, 4), logvar = moments.narrow(1, 4, 4);
  VaeEncodeOptions o;
  o.noise = noise;
  at::Tensor want = 0.3611 * (mean + at::exp(logvar / 2) * noise - 0.1159);
  EXPECT_TRUE(at::allclose(vae->Encode(images, o), want, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(vae->EncodeMean(images), 0.3611 * (mean - 0.1159), 1e-6, 1e-7));

  VaeEncodeOptions seeded;
  seeded.generator = at::detail::createCPUGenerator(9);
  at::Tensor a = vae->Encode(images, seeded);
  seeded.generator = at::detail::createCPUGenerator(9);
  EXPECT_TRUE(at::equal(a, vae->Encode(images, seeded)));
  seeded.generator = at::detail::createCPUGenerator(10);
  EXPECT_FALSE(at::equal(a, vae->Encode(images, seeded)));

  o.noise = at::zeros({1, 4, 4, 6});
  EXPECT_THROW(vae->Encode(images, o), c10::Error);
}

TEST(FluxVaeTest, DecodeUndoesScaleAndShiftAndUpsamples) {
  auto vae = SmallVae();
  at::NoGradGuard no_grad;
  at::Tensor z = at::randn({1, 4, 3, 5});
  at::Tensor image = vae->Decode(z);
  EXPECT_EQ(image.sizes(), (std::vector<int64_t>{1, 3, 6, 10}));
  EXPECT_TRUE(at::allclose(image, vae->decoder->Forward(z / 0.3611 + 0.1159), 1e-6, 1e-7));
  EXPECT_THROW(vae->Decode(at::randn({1, 3, 3, 5})), c10::Error);
}

TEST(FluxVaeTest, PaddedBatchPutsEachImageTopLeft) {
  at::Tensor a = at::ones({3, 4, 2}), b = 2 * at::ones({3, 2, 6});
  at::Tensor padded = PadImageBatch({a, b});
  ASSERT_EQ(padded.sizes(), (std::vector<int64_t>{2, 3, 4, 6}));
  EXPECT_EQ(padded.sum().item<double>(), 3 * 4 * 2 + 2 * 3 * 2 * 6);
  EXPECT_EQ(padded[0][0][3][1].item<float>(), 1);
  EXPECT_EQ(padded[0][0][3][2].item<float>(), 0);
  EXPECT_EQ(padded[1][0][1][5].item<float>(), 2);
  EXPECT_EQ(padded[1][0][2][0].item<float>(), 0);
}

// The real FLUX shape gives exactly the 244 tensors of BAGEL-7B-MoT's ae.safetensors, and the
// shape inference reads it back from a header-only file of that schema.
TEST(FluxVaeTest, FluxDevShapeMatchesTheReleasedSchema) {
  const fs::path schema = bagel::testing::GoldenDir() / "schema/bagel-7b-mot.json";
  if (!fs::exists(schema)) GTEST_SKIP() << schema << " not present";
  const auto ae = nlohmann::json::parse(std::ifstream(schema))["ae.safetensors"];
  FluxVae vae(FluxDevVaeParams(), at::TensorOptions().device(at::kMeta));
  auto params = vae.named_parameters();
  EXPECT_EQ(params.size(), ae.size());
  std::vector<std::pair<std::string, std::vector<int64_t>>> entries;
  for (const auto& [name, shape] : ae.items()) {
    const at::Tensor* p = params.find(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->sizes(), at::IntArrayRef(shape.get<std::vector<int64_t>>())) << name;
    entries.emplace_back(name, shape.get<std::vector<int64_t>>());
  }
  const bagel::testing::TempDir dir;
  const std::string path = dir.File("schema.safetensors");
  io::WriteSparseSafetensorsForTest(path, entries, at::kFloat);
  const FluxVaeParams inferred = InferFluxVaeParams(*io::SafetensorsFile::Open(path));
  EXPECT_EQ(inferred.Describe(), FluxDevVaeParams().Describe());
  EXPECT_EQ(inferred.downsample(), 8);
}

}  // namespace
}  // namespace bagel::vae
