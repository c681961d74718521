#include "model/io/safetensors_stream_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/io/safetensors.h"
#include "testing/temp_dir.h"

namespace bagel::io {
namespace {

namespace fs = std::filesystem;

std::string FileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Written tensor by tensor through a small buffer (a tensor larger than it goes straight
// through), the file reads back as WriteSafetensors' would, and the observer saw its bytes.
TEST(SafetensorsStreamWriterTest, WritesWhatWriteSafetensorsWritesAndShowsEveryByte) {
  const bagel::testing::TempDir tmp;
  const at::Tensor big = at::randn({300, 70});  // 84,000 bytes > the 4,096-byte buffer
  const at::Tensor small = at::arange(5, at::kLong);
  const at::Tensor half = at::randn({3, 3}).to(at::kBFloat16);
  std::string seen;
  SafetensorsStreamWriter w(
      (tmp.path() / "a.safetensors").string(),
      {{"z.big", at::kFloat, {300, 70}},
       {"a.small", at::kLong, {5}},
       {"m.half", at::kBFloat16, {3, 3}}},
      {{"format", "pt"}},
      [&](const void* d, size_t n) { seen.append(static_cast<const char*>(d), n); }, 4096);
  EXPECT_FALSE(fs::exists(tmp.path() / "a.safetensors"));
  w.Write("z.big", big);
  w.Write("a.small", small);
  w.Write("m.half", half);
  const int64_t bytes = w.Finish();
  const std::string file = FileBytes(tmp.path() / "a.safetensors");
  EXPECT_EQ(static_cast<int64_t>(file.size()), bytes);
  EXPECT_EQ(seen, file);
  auto f = SafetensorsFile::Open((tmp.path() / "a.safetensors").string());
  EXPECT_TRUE(f->Read("z.big").equal(big));
  EXPECT_TRUE(f->Read("a.small").equal(small));
  EXPECT_TRUE(f->Read("m.half").equal(half));
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_FALSE(fs::exists(tmp.path() / "a.safetensors.tmp"));

  // The same bytes parsed from memory.
  at::Tensor raw = at::empty({static_cast<int64_t>(file.size())}, at::kByte);
  std::memcpy(raw.data_ptr(), file.data(), file.size());
  auto m = SafetensorsFile::FromBytes("in-memory", raw);
  EXPECT_TRUE(m->Read("z.big").equal(big));
  EXPECT_TRUE(m->View("m.half").equal(half));
}

TEST(SafetensorsStreamWriterTest, RefusesTensorsOutOfOrderOrOfAnotherShapeAndCleansUp) {
  const bagel::testing::TempDir tmp;
  const std::string path = (tmp.path() / "b.safetensors").string();
  {
    SafetensorsStreamWriter w(path, {{"a", at::kFloat, {2}}, {"b", at::kFloat, {3}}});
    EXPECT_THROW(w.Write("b", at::zeros({3})), c10::Error);
    EXPECT_THROW(w.Write("a", at::zeros({3})), c10::Error);
    EXPECT_THROW(w.Write("a", at::zeros({2}, at::kDouble)), c10::Error);
    w.Write("a", at::zeros({2}));
    EXPECT_THROW(w.Finish(), c10::Error);  // "b" never written
    EXPECT_TRUE(fs::exists(path + ".tmp"));
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));  // an unfinished file is removed
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace bagel::io
