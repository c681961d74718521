// Test helpers of worker/tensorboard: the events of a file, and the first bytes of a PNG.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tensorboard/event.pb.h"
#include "worker/tensorboard/tfrecord_reader.h"

namespace bagel::tensorboard::testing {

// Every record of the file, parsed; fails the test unless the file ends cleanly.
inline std::vector<::tensorboard::Event> ReadEvents(const std::string& path) {
  const RecordScan scan = ReadRecordFile(path);
  EXPECT_EQ(scan.tail, RecordTail::kClean) << path;
  std::vector<::tensorboard::Event> events;
  for (const std::string& record : scan.records) {
    EXPECT_TRUE(events.emplace_back().ParseFromString(record));
  }
  return events;
}

// The PNG signature and an IHDR chunk (bit depth 8; the CRC is not checked, so zero): what
// ReadPngHeader reads.
inline std::string PngStart(uint32_t width, uint32_t height, uint8_t colour_type = 2) {
  std::string bytes("\x89PNG\r\n\x1a\n", 8);
  auto be32 = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(v >> shift));
  };
  be32(13);
  bytes += "IHDR";
  be32(width);
  be32(height);
  bytes.push_back(8);
  bytes.push_back(static_cast<char>(colour_type));
  bytes.append(3, '\0');  // compression, filter, interlace
  be32(0);                // CRC
  return bytes;
}

}  // namespace bagel::tensorboard::testing
