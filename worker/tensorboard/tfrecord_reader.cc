#include "worker/tensorboard/tfrecord_reader.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "worker/tensorboard/tfrecord.h"

namespace bagel::tensorboard {

RecordScan ScanRecords(std::string_view bytes) {
  RecordScan scan;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string_view rest = bytes.substr(at);
    if (rest.size() < kRecordHeaderBytes) {
      scan.tail = RecordTail::kTruncated;
      break;
    }
    if (ReadLittleEndian(rest.substr(8), 4) != MaskedCrc32c(rest.substr(0, 8))) {
      scan.tail = RecordTail::kCorrupt;
      break;
    }
    const uint64_t length = ReadLittleEndian(rest, 8);
    const size_t after_header = rest.size() - kRecordHeaderBytes;
    if (after_header < kRecordFooterBytes || length > after_header - kRecordFooterBytes) {
      scan.tail = RecordTail::kTruncated;
      break;
    }
    const std::string_view data = rest.substr(kRecordHeaderBytes, length);
    if (ReadLittleEndian(rest.substr(kRecordHeaderBytes + length), 4) != MaskedCrc32c(data)) {
      scan.tail = RecordTail::kCorrupt;
      break;
    }
    scan.records.emplace_back(data);
    at += kRecordHeaderBytes + length + kRecordFooterBytes;
    scan.valid_bytes = at;
  }
  return scan;
}

RecordScan ReadRecordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot open event file " + path);
  }
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    throw std::runtime_error("cannot read event file " + path);
  }
  return ScanRecords(bytes);
}

}  // namespace bagel::tensorboard
