// SHA-256 (FIPS 180-4) of byte streams and files, for checkpoint manifests.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bagel::ckpt {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  std::array<uint8_t, 32> Finish();
  std::string HexFinish();  // lowercase hex

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Hex digest of a file's content; throws c10::Error naming the file when it cannot be read.
std::string Sha256File(const std::string& path);

}  // namespace bagel::ckpt
