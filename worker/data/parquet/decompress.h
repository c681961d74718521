// Decompression of Parquet pages by codec: UNCOMPRESSED, SNAPPY (a decoder written here: the
// format is a dozen lines), GZIP (zlib), ZSTD (libzstd, when the build found it: Debian
// libzstd-dev). Other codecs (LZ4, BROTLI, LZO) are reported as unsupported with the way out
// (rewrite the files with one of these codecs, docs/DATA.md).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bagel::data::parquet {

class ParquetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parquet's CompressionCodec values.
enum class Codec : int32_t {
  kUncompressed = 0,
  kSnappy = 1,
  kGzip = 2,
  kLzo = 3,
  kBrotli = 4,
  kLz4 = 5,
  kZstd = 6,
  kLz4Raw = 7,
};

const char* CodecName(int32_t codec);

// Whether this build can read `codec`.
bool CodecSupported(int32_t codec);

// Decompresses `data` to exactly `uncompressed_size` bytes; throws ParquetError (prefixed with
// `what`) on corrupt input or a size mismatch.
std::string Decompress(int32_t codec, std::string_view data, int64_t uncompressed_size,
                       const std::string& what);

// Snappy's raw format (no framing), exposed for tests.
std::string SnappyDecompress(std::string_view data, const std::string& what);

}  // namespace bagel::data::parquet
