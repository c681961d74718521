// SHA-256 (FIPS 180-4) of byte streams and files, for checkpoint manifests: OpenSSL's libcrypto
// (static, so the GPU bundle needs no shared library for it).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace bagel::ckpt {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // The digest; the hasher starts over afterwards.
  std::array<uint8_t, 32> Finish();
  std::string HexFinish();  // lowercase hex

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// Hex digest of a file's content; throws c10::Error naming the file when it cannot be read.
std::string Sha256File(const std::string& path);

}  // namespace bagel::ckpt
