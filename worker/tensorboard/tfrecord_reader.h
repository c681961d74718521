// Reads TFRecord-framed bytes back (the framing of tfrecord.h), checking the length's and the
// data's CRCs: the tests' reader of event files, and a tool for anyone checking one. It stops at
// the first record that is cut short (a writer killed mid-write leaves at most one, at the tail)
// or damaged, and says which.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace bagel::tensorboard {

enum class RecordTail {
  kClean,      // the bytes end exactly after the last record
  kTruncated,  // the bytes end inside a record (its header, data or data CRC)
  kCorrupt,    // a record's length CRC or data CRC does not match
};

struct RecordScan {
  std::vector<std::string> records;  // the data of every whole record before the tail
  size_t valid_bytes = 0;            // bytes taken by those records
  RecordTail tail = RecordTail::kClean;
};

RecordScan ScanRecords(std::string_view bytes);

// ScanRecords of a file's contents; throws std::runtime_error naming the file when it cannot be
// read.
RecordScan ReadRecordFile(const std::string& path);

}  // namespace bagel::tensorboard
