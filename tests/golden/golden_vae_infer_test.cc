// Parity with the official implementation for the VAE and inference reference cases of
// tests/golden: vae-tiny (posterior mean and decode of the FLUX autoencoder) and infer-t2i,
// infer-edit, infer-und (the InterleaveInferencer call sequence with its KV cache, CFG contexts and
// rectified-flow sampler), each within its case.json tolerance, float32 on CPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/io/safetensors.h"
#include "model/testing/tensor_compare.h"
#include "model/tools/forward_case.h"
#include "testing/golden_dir.h"

namespace bagel {
namespace {

namespace fs = std::filesystem;

fs::path GoldenDir() { return bagel::testing::GoldenDir(); }

void CheckCase(const std::string& name, bool infer) {
  const fs::path dir = GoldenDir() / name;
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present";
  ForwardCaseOptions options;
  if (infer) options.infer_case = (dir / "case.json").string();
  auto got =
      RunForwardCase((dir / "checkpoint").string(), (dir / "batch.safetensors").string(), options);
  auto expected = io::SafetensorsFile::Open((dir / "expected.safetensors").string())->ReadAll();
  auto report =
      testing::CompareTensors(expected, got, testing::ReadTolerance((dir / "case.json").string()));
  EXPECT_TRUE(report.ok) << report.Text(name);
  std::cout << report.Text(name);
}

TEST(GoldenVaeTest, VaeTinyMatchesTheOfficialAutoencoder) { CheckCase("vae-tiny", false); }

class GoldenInferTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenInferTest, MatchesTheOfficialInferenceCallSequence) { CheckCase(GetParam(), true); }

INSTANTIATE_TEST_SUITE_P(Inference, GoldenInferTest,
                         ::testing::Values("infer-t2i", "infer-edit", "infer-und"));

// Greedy ids must match exactly, not just within a tolerance.
TEST(GoldenInferTest, UnderstandingIdsAreExact) {
  const fs::path dir = GoldenDir() / "infer-und";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present";
  ForwardCaseOptions options;
  options.infer_case = (dir / "case.json").string();
  auto got =
      RunForwardCase((dir / "checkpoint").string(), (dir / "batch.safetensors").string(), options);
  auto expected = io::SafetensorsFile::Open((dir / "expected.safetensors").string())->Read("ids");
  EXPECT_TRUE(at::equal(got.at("ids"), expected)) << got.at("ids") << "\n" << expected;
}

}  // namespace
}  // namespace bagel
