#include "worker/checkpoint/sha256.h"

#include <c10/util/Exception.h>
#include <openssl/evp.h>

#include <cstdio>
#include <vector>

namespace bagel::ckpt {

struct Sha256::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
  void Reset() {
    TORCH_INTERNAL_ASSERT(md != nullptr && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1,
                          "SHA-256: EVP_DigestInit_ex failed");
  }
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) { ctx_->Reset(); }
Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) {
  TORCH_INTERNAL_ASSERT(EVP_DigestUpdate(ctx_->md, data, size) == 1,
                        "SHA-256: EVP_DigestUpdate failed");
}

std::array<uint8_t, 32> Sha256::Finish() {
  std::array<uint8_t, 32> out{};
  unsigned int n = 0;
  TORCH_INTERNAL_ASSERT(EVP_DigestFinal_ex(ctx_->md, out.data(), &n) == 1 && n == out.size(),
                        "SHA-256: EVP_DigestFinal_ex failed");
  ctx_->Reset();
  return out;
}

std::string Sha256::HexFinish() {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : Finish()) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

std::string Sha256File(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  TORCH_CHECK(f != nullptr, path, ": cannot open for hashing");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.Update(buf.data(), n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  TORCH_CHECK(!failed, path, ": read error while hashing");
  return h.HexFinish();
}

}  // namespace bagel::ckpt
