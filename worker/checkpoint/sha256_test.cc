#include "worker/checkpoint/sha256.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"

namespace bagel::ckpt {
namespace {

std::string Hex(std::string_view s) {
  Sha256 h;
  h.Update(s);
  return h.HexFinish();
}

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.Update(a);
  EXPECT_EQ(million.HexFinish(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, ChunkingDoesNotMatter) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7));
  Sha256 pieces;
  for (size_t i = 0; i < data.size(); i += 13) pieces.Update(std::string_view(data).substr(i, 13));
  EXPECT_EQ(pieces.HexFinish(), Hex(data));
  bagel::testing::TempDir dir;
  const std::string path = dir.File("data.bin");
  std::ofstream(path, std::ios::binary) << data;
  EXPECT_EQ(Sha256File(path), Hex(data));
  EXPECT_THROW(Sha256File("/nonexistent/file"), c10::Error);
}

// A hasher starts over after Finish, so one object can hash file after file.
TEST(Sha256Test, FinishStartsOver) {
  Sha256 h;
  h.Update("abc");
  const std::string first = h.HexFinish();
  h.Update("abc");
  EXPECT_EQ(h.HexFinish(), first);
  EXPECT_EQ(h.HexFinish(), Hex(""));
}

}  // namespace
}  // namespace bagel::ckpt
