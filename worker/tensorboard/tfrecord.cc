#include "worker/tensorboard/tfrecord.h"

#include "worker/tensorboard/crc32c.h"

namespace bagel::tensorboard {

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint32_t MaskedCrc32c(std::string_view data) { return MaskCrc(Crc32c(data)); }

void AppendLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

uint64_t ReadLittleEndian(std::string_view in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  }
  return value;
}

std::string FrameRecord(std::string_view data) {
  std::string record;
  record.reserve(kRecordHeaderBytes + data.size() + kRecordFooterBytes);
  AppendLittleEndian(record, data.size(), 8);
  AppendLittleEndian(record, MaskedCrc32c(record), 4);
  record.append(data);
  AppendLittleEndian(record, MaskedCrc32c(data), 4);
  return record;
}

}  // namespace bagel::tensorboard
