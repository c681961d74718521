// The TFRecord framing of TensorBoard event files. Each record is
//   uint64 length (little endian) | uint32 masked CRC-32C of those 8 bytes |
//   data (a serialized tensorboard.Event) | uint32 masked CRC-32C of the data
// so a reader can tell a whole record from a cut one and a damaged length from a long one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bagel::tensorboard {

// Bytes of framing around a record's data: length, its CRC, the data's CRC.
inline constexpr size_t kRecordHeaderBytes = 12;
inline constexpr size_t kRecordFooterBytes = 4;

// TFRecord's masking, which keeps a CRC stored inside CRC-covered data from checksumming to a
// fixed value: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t MaskCrc(uint32_t crc);

// The masked CRC-32C of `data`.
uint32_t MaskedCrc32c(std::string_view data);

// `data` framed as one record.
std::string FrameRecord(std::string_view data);

// Little-endian encoding shared by the framing and its reader.
void AppendLittleEndian(std::string& out, uint64_t value, int bytes);
uint64_t ReadLittleEndian(std::string_view in, int bytes);

}  // namespace bagel::tensorboard
