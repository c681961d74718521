#include "model/io/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"

namespace bagel::io {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.File(name); }

  // Writes a file from a raw header and payload.
  std::string Raw(const std::string& name, const std::string& header, size_t payload) const {
    std::ofstream out(Path(name), std::ios::binary);
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << std::string(payload, '\0');
    return Path(name);
  }

  static std::string ErrorOf(const std::function<void()>& f) {
    try {
      f();
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  }

  bagel::testing::TempDir dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtype) {
  std::map<std::string, at::Tensor> tensors = {
      {"f64", at::randn({2, 3}, at::kDouble)},
      {"f32", at::randn({4}, at::kFloat)},
      {"bf16", at::randn({3, 2}).to(at::kBFloat16)},
      {"f16", at::randn({5}).to(at::kHalf)},
      {"i64", at::arange(6, at::kLong).reshape({2, 3})},
      {"i32", at::arange(3, at::kInt)},
      {"bool", at::tensor({1, 0, 1}, at::kLong).to(at::kBool)},
      {"scalar", at::scalar_tensor(7, at::kLong)},
      {"empty", at::empty({0, 4}, at::kFloat)},
      {"strided", at::randn({4, 4}).t()},
  };
  WriteSafetensors(Path("a.safetensors"), tensors, {{"format", "pt"}});
  auto file = SafetensorsFile::Open(Path("a.safetensors"));
  EXPECT_EQ(file->metadata().at("format"), "pt");
  ASSERT_EQ(file->entries().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    at::Tensor back = file->Read(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(back.equal(t)) << name;
  }
  EXPECT_TRUE(file->Read("bf16", at::kFloat).equal(tensors["bf16"].to(at::kFloat)));
  EXPECT_FALSE(fs::exists(Path("a.safetensors.tmp")));
}

TEST_F(SafetensorsTest, DataStartsEightByteAligned) {
  WriteSafetensors(Path("b.safetensors"), {{"x", at::ones({3}, at::kDouble)}});
  std::ifstream in(Path("b.safetensors"), std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
}

TEST_F(SafetensorsTest, BadFilesNameTheFileAndTensor) {
  EXPECT_NE(
      ErrorOf([&] { SafetensorsFile::Open(Path("nope.safetensors")); }).find("nope.safetensors"),
      std::string::npos);
  std::string p = Raw("json.safetensors", "{not json", 0);
  EXPECT_NE(ErrorOf([&] { SafetensorsFile::Open(p); }).find("not valid JSON"), std::string::npos);
  p = Raw("range.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  std::string err = ErrorOf([&] { SafetensorsFile::Open(p); });
  EXPECT_NE(err.find("'w'"), std::string::npos) << err;
  EXPECT_NE(err.find("outside"), std::string::npos) << err;
  p = Raw("size.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16);
  EXPECT_NE(ErrorOf([&] { SafetensorsFile::Open(p); }).find("need 12"), std::string::npos);
  p = Raw("dtype.safetensors", R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_NE(ErrorOf([&] { SafetensorsFile::Open(p); }).find("unsupported dtype 'F8'"),
            std::string::npos);
  p = Raw(
      "overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      12);
  EXPECT_NE(ErrorOf([&] { SafetensorsFile::Open(p); }).find("overlap"), std::string::npos);
  {
    std::ofstream out(Path("short.safetensors"), std::ios::binary);
    out << "abc";
  }
  EXPECT_NE(
      ErrorOf([&] { SafetensorsFile::Open(Path("short.safetensors")); }).find("not a safetensors"),
      std::string::npos);
  WriteSafetensors(Path("ok.safetensors"), {{"x", at::ones({1})}});
  EXPECT_NE(ErrorOf([&] { SafetensorsFile::Open(Path("ok.safetensors"))->Read("y"); }).find("'y'"),
            std::string::npos);
}

TEST_F(SafetensorsTest, MisalignedDataIsReadCorrectly) {
  // A header whose length is not a multiple of 8 (other writers may do this).
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  std::ofstream out(Path("mis.safetensors"), std::ios::binary);
  uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  float values[2] = {1.5f, -2.0f};
  out.write(reinterpret_cast<const char*>(values), 8);
  out.close();
  at::Tensor x = SafetensorsFile::Open(Path("mis.safetensors"))->Read("x");
  EXPECT_EQ(x[0].item<float>(), 1.5f);
  EXPECT_EQ(x[1].item<float>(), -2.0f);
}

TEST_F(SafetensorsTest, SparseFileDescribesHugeTensorsWithoutStoringThem) {
  WriteSparseSafetensorsForTest(Path("sparse.safetensors"),
                                {{"big", {100000, 100000}}, {"small", {3}}}, at::kBFloat16);
  auto file = SafetensorsFile::Open(Path("sparse.safetensors"));
  EXPECT_EQ(file->Entry("big").NumElements(), 10000000000LL);
  EXPECT_LT(fs::space(dir_.path()).capacity, 1ull << 60);  // sanity
  struct stat st {};
  ::stat(Path("sparse.safetensors").c_str(), &st);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);  // nothing allocated on disk
}

}  // namespace
}  // namespace bagel::io
