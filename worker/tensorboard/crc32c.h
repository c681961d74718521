// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TensorBoard's TFRecord
// framing. Written here because nothing the project may link has it: Debian 12 has no libcrc32c,
// its abseil (20220623) predates absl/crc, and Arrow's and zlib's crc32 use the other polynomial.
// Table-driven, a byte at a time: event records are small and written rarely.
#pragma once

#include <cstdint>
#include <string_view>

namespace bagel::tensorboard {

// The CRC-32C of `data`; pass the CRC of the bytes before it as `crc` to continue a running one
// (Crc32c(b, Crc32c(a)) == Crc32c(a + b)).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace bagel::tensorboard
