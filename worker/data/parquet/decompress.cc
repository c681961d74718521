#include "worker/data/parquet/decompress.h"

#include <zlib.h>

#include <cstring>

#ifdef BAGEL_HAVE_ZSTD
#include <zstd.h>
#endif

namespace bagel::data::parquet {
namespace {

constexpr int64_t kMaxPageBytes = int64_t{1} << 31;

[[noreturn]] void Fail(const std::string& what, const std::string& message) {
  throw ParquetError(what + ": " + message);
}

std::string Gunzip(std::string_view data, int64_t size, const std::string& what) {
  std::string out(static_cast<size_t>(size), '\0');
  z_stream z{};
  // 15 + 32: zlib or gzip header, detected.
  if (inflateInit2(&z, 15 + 32) != Z_OK) Fail(what, "zlib initialisation failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  const uLong produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || static_cast<int64_t>(produced) != size) {
    Fail(what, "corrupt GZIP page (zlib status " + std::to_string(rc) + ")");
  }
  return out;
}

}  // namespace

const char* CodecName(int32_t codec) {
  switch (static_cast<Codec>(codec)) {
    case Codec::kUncompressed:
      return "UNCOMPRESSED";
    case Codec::kSnappy:
      return "SNAPPY";
    case Codec::kGzip:
      return "GZIP";
    case Codec::kLzo:
      return "LZO";
    case Codec::kBrotli:
      return "BROTLI";
    case Codec::kLz4:
      return "LZ4";
    case Codec::kZstd:
      return "ZSTD";
    case Codec::kLz4Raw:
      return "LZ4_RAW";
  }
  return "UNKNOWN";
}

bool CodecSupported(int32_t codec) {
  switch (static_cast<Codec>(codec)) {
    case Codec::kUncompressed:
    case Codec::kSnappy:
    case Codec::kGzip:
      return true;
    case Codec::kZstd:
#ifdef BAGEL_HAVE_ZSTD
      return true;
#else
      return false;
#endif
    default:
      return false;
  }
}

std::string SnappyDecompress(std::string_view in, const std::string& what) {
  size_t pos = 0;
  auto byte = [&]() -> uint8_t {
    if (pos >= in.size()) Fail(what, "truncated SNAPPY data");
    return static_cast<uint8_t>(in[pos++]);
  };
  uint64_t length = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > 35) Fail(what, "bad SNAPPY length");
    const uint8_t b = byte();
    length |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (static_cast<int64_t>(length) > kMaxPageBytes) Fail(what, "SNAPPY page too large");
  std::string out;
  out.reserve(length);
  while (pos < in.size()) {
    const uint8_t tag = byte();
    const int kind = tag & 3;
    if (kind == 0) {  // literal
      uint64_t n = tag >> 2;
      if (n >= 60) {
        const int extra = static_cast<int>(n) - 59;
        n = 0;
        for (int k = 0; k < extra; ++k) n |= static_cast<uint64_t>(byte()) << (8 * k);
      }
      n += 1;
      if (n > in.size() - pos) Fail(what, "SNAPPY literal runs past the data");
      out.append(in.substr(pos, n));
      pos += n;
      continue;
    }
    uint64_t n = 0, offset = 0;
    if (kind == 1) {
      n = 4 + ((tag >> 2) & 7);
      offset = (static_cast<uint64_t>(tag >> 5) << 8) | byte();
    } else if (kind == 2) {
      n = (tag >> 2) + 1;
      offset = byte();
      offset |= static_cast<uint64_t>(byte()) << 8;
    } else {
      n = (tag >> 2) + 1;
      for (int k = 0; k < 4; ++k) offset |= static_cast<uint64_t>(byte()) << (8 * k);
    }
    if (offset == 0 || offset > out.size()) Fail(what, "bad SNAPPY copy offset");
    if (out.size() + n > length) Fail(what, "SNAPPY data longer than announced");
    const size_t from = out.size() - offset;
    for (uint64_t k = 0; k < n; ++k) out.push_back(out[from + k]);  // copies may overlap
  }
  if (out.size() != length) Fail(what, "SNAPPY data shorter than announced");
  return out;
}

std::string Decompress(int32_t codec, std::string_view data, int64_t uncompressed_size,
                       const std::string& what) {
  if (uncompressed_size < 0 || uncompressed_size > kMaxPageBytes) {
    Fail(what, "bad uncompressed page size " + std::to_string(uncompressed_size));
  }
  switch (static_cast<Codec>(codec)) {
    case Codec::kUncompressed:
      if (static_cast<int64_t>(data.size()) != uncompressed_size) {
        Fail(what, "uncompressed page of " + std::to_string(data.size()) + " bytes, header says " +
                       std::to_string(uncompressed_size));
      }
      return std::string(data);
    case Codec::kSnappy: {
      std::string out = SnappyDecompress(data, what);
      if (static_cast<int64_t>(out.size()) != uncompressed_size) {
        Fail(what, "SNAPPY page decompressed to the wrong size");
      }
      return out;
    }
    case Codec::kGzip:
      return Gunzip(data, uncompressed_size, what);
    case Codec::kZstd: {
#ifdef BAGEL_HAVE_ZSTD
      std::string out(static_cast<size_t>(uncompressed_size), '\0');
      const size_t n = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
      if (ZSTD_isError(n) || static_cast<int64_t>(n) != uncompressed_size) {
        Fail(what, std::string("corrupt ZSTD page (") +
                       (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch") + ")");
      }
      return out;
#else
      break;
#endif
    }
    default:
      break;
  }
  std::string supported = "UNCOMPRESSED, SNAPPY, GZIP";
#ifdef BAGEL_HAVE_ZSTD
  supported += ", ZSTD";
#endif
  Fail(what, std::string("compression codec ") + CodecName(codec) +
                 " is not supported by this build (supported: " + supported +
                 "); rewrite the file with one of them (docs/DATA.md)");
}

}  // namespace bagel::data::parquet
