#include "worker/tensorboard/tfrecord.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "worker/tensorboard/crc32c.h"
#include "worker/tensorboard/tfrecord_reader.h"

namespace bagel::tensorboard {
namespace {

std::string Concat(const std::vector<std::string>& records) {
  std::string bytes;
  for (const std::string& data : records) {
    bytes += FrameRecord(data);
  }
  return bytes;
}

// Values of masked_crc32c in TensorBoard's own reader (tensorboard/compat/tensorflow_stub/
// pywrap_tensorflow.py, TensorBoard 2.21).
TEST(TfRecordTest, MasksAsTensorBoardDoes) {
  EXPECT_EQ(MaskedCrc32c("123456789"), 0xC78AB0E5u);
  EXPECT_EQ(MaskedCrc32c(""), 0xA282EAD8u);
  EXPECT_EQ(MaskedCrc32c(std::string(8, '\0')), 0x07980329u);
  EXPECT_EQ(MaskCrc(Crc32c("123456789")), 0xC78AB0E5u);
}

TEST(TfRecordTest, FramesLengthCrcDataCrc) {
  const std::string data = "an event";
  const std::string record = FrameRecord(data);
  ASSERT_EQ(record.size(), 8 + 4 + data.size() + 4);
  EXPECT_EQ(record.substr(0, 8), std::string("\x08\0\0\0\0\0\0\0", 8));  // little endian
  EXPECT_EQ(ReadLittleEndian(record.substr(8), 4), MaskedCrc32c(record.substr(0, 8)));
  EXPECT_EQ(record.substr(12, data.size()), data);
  EXPECT_EQ(ReadLittleEndian(record.substr(12 + data.size()), 4), MaskedCrc32c(data));
}

TEST(TfRecordTest, ReadsBackEveryRecord) {
  const std::vector<std::string> records = {"first", "", std::string(70000, 'x'),
                                            std::string("\0\xff\n", 3)};
  const std::string bytes = Concat(records);
  const RecordScan scan = ScanRecords(bytes);
  EXPECT_EQ(scan.tail, RecordTail::kClean);
  EXPECT_EQ(scan.records, records);
  EXPECT_EQ(scan.valid_bytes, bytes.size());
}

TEST(TfRecordTest, StopsAtACutRecordKeepingTheWholeOnes) {
  const std::vector<std::string> records = {"one", "two", "the last record"};
  const std::string bytes = Concat(records);
  const size_t last_start = bytes.size() - FrameRecord(records.back()).size();
  for (size_t cut = last_start + 1; cut < bytes.size(); ++cut) {
    const RecordScan scan = ScanRecords(std::string_view(bytes).substr(0, cut));
    EXPECT_EQ(scan.tail, RecordTail::kTruncated) << cut;
    EXPECT_EQ(scan.records, std::vector<std::string>(records.begin(), records.end() - 1)) << cut;
    EXPECT_EQ(scan.valid_bytes, last_start) << cut;
  }
}

TEST(TfRecordTest, StopsAtADamagedLengthOrData) {
  const std::string bytes = Concat({"kept", "damaged"});
  const size_t second = FrameRecord("kept").size();
  for (const size_t offset : {second + 0, second + 9, second + 12, bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[offset] ^= 0x01;
    const RecordScan scan = ScanRecords(damaged);
    EXPECT_EQ(scan.tail, RecordTail::kCorrupt) << offset;
    EXPECT_EQ(scan.records, std::vector<std::string>{"kept"}) << offset;
  }
}

}  // namespace
}  // namespace bagel::tensorboard
