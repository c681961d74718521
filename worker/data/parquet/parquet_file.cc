#include "worker/data/parquet/parquet_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <functional>

#include "worker/data/parquet/thrift_compact.h"

namespace bagel::data::parquet {

namespace th = bagel::data::thrift;

// Parquet enums used here.
namespace {
constexpr int kTypeByteArray = 6;
constexpr int kRequired = 0, kOptional = 1, kRepeated = 2;
constexpr int kPageData = 0, kPageDictionary = 2, kPageDataV2 = 3;
constexpr int kEncPlain = 0, kEncPlainDictionary = 2, kEncRle = 3, kEncRleDictionary = 8;
constexpr int64_t kMaxFooterBytes = int64_t{256} << 20;
// The most level entries (values, nulls and list entries) one column chunk may have: RLE lets a
// tiny page claim any count, and each entry costs memory when decoded. BAGEL's datasets have
// thousands of rows per row group, so 16M entries is far above real data.
constexpr int64_t kMaxChunkValues = int64_t{1} << 24;

const char* PhysicalTypeName(int t) {
  static const char* kNames[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                 "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
  return t >= 0 && t < 8 ? kNames[t] : "UNKNOWN";
}

}  // namespace

struct ParquetFile::SchemaNode {
  std::string name;
  int repetition = kRequired;
  int physical_type = -1;  // leaves only
  std::vector<std::shared_ptr<SchemaNode>> children;
};

struct ParquetFile::ChunkInfo {
  std::vector<std::string> path;
  int type = -1;
  int codec = 0;
  int64_t num_values = 0;
  int64_t start = 0;  // first page (dictionary or data)
  int64_t compressed_size = 0;
};

struct ParquetFile::RowGroupInfo {
  int64_t num_rows = 0;
  std::vector<ChunkInfo> chunks;
};

namespace {

// RLE / bit-packed hybrid decoding of `count` values of `bit_width` bits.
void DecodeHybrid(std::string_view data, int bit_width, int64_t count, const std::string& what,
                  const std::function<void(uint32_t)>& emit) {
  size_t pos = 0;
  int64_t done = 0;
  const int value_bytes = (bit_width + 7) / 8;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= data.size()) throw ParquetError(what + ": truncated RLE run header");
      const uint8_t b = static_cast<uint8_t>(data[pos++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw ParquetError(what + ": bad RLE run header");
  };
  while (done < count) {
    const uint64_t header = varint();
    if (header & 1) {  // bit-packed groups of 8
      const uint64_t groups = header >> 1;
      // groups comes from the file: bound it before multiplying (the product could wrap).
      if (bit_width != 0 && groups > (data.size() - pos) / static_cast<uint64_t>(bit_width)) {
        throw ParquetError(what + ": bit-packed run past the data");
      }
      const uint64_t bytes = groups * static_cast<uint64_t>(bit_width);
      const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data() + pos);
      const uint64_t remaining = static_cast<uint64_t>(count - done);
      const uint64_t n = groups > remaining / 8 ? remaining : groups * 8;
      for (uint64_t k = 0; k < n && done < count; ++k, ++done) {
        uint32_t v = 0;
        const uint64_t bit = k * bit_width;
        for (int b = 0; b < bit_width; ++b) {
          const uint64_t at = bit + b;
          v |= static_cast<uint32_t>((p[at >> 3] >> (at & 7)) & 1) << b;
        }
        emit(v);
      }
      pos += bytes;
    } else {
      const uint64_t n = header >> 1;
      if (static_cast<uint64_t>(value_bytes) > data.size() - pos) {
        throw ParquetError(what + ": RLE run past the data");
      }
      uint32_t v = 0;
      for (int b = 0; b < value_bytes; ++b) {
        v |= static_cast<uint32_t>(static_cast<uint8_t>(data[pos + b])) << (8 * b);
      }
      pos += value_bytes;
      if (n == 0) throw ParquetError(what + ": empty RLE run");
      const uint64_t run = std::min(n, static_cast<uint64_t>(count - done));
      for (uint64_t k = 0; k < run; ++k, ++done) emit(v);
    }
  }
}

void DecodeLevels(std::string_view data, int max_level, int64_t count, const std::string& what,
                  std::vector<int16_t>& out) {
  const int bw = std::bit_width(static_cast<unsigned>(max_level));
  DecodeHybrid(data, bw, count, what, [&](uint32_t v) {
    if (v > static_cast<uint32_t>(max_level)) {
      throw ParquetError(what + ": level " + std::to_string(v) + " above the maximum " +
                         std::to_string(max_level));
    }
    out.push_back(static_cast<int16_t>(v));
  });
}

// PLAIN BYTE_ARRAY values: 4-byte little-endian length, then the bytes.
void DecodePlainByteArrays(std::string_view data, int64_t count, const std::string& what,
                           std::vector<std::string>& out) {
  size_t pos = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (data.size() - pos < 4) throw ParquetError(what + ": truncated PLAIN value");
    uint32_t n = 0;
    for (int b = 0; b < 4; ++b)
      n |= static_cast<uint32_t>(static_cast<uint8_t>(data[pos + b])) << (8 * b);
    pos += 4;
    if (n > data.size() - pos) throw ParquetError(what + ": PLAIN value runs past the page");
    out.emplace_back(data.substr(pos, n));
    pos += n;
  }
}

int64_t ReadLe32(std::string_view data, size_t pos, const std::string& what) {
  if (data.size() < pos + 4) throw ParquetError(what + ": truncated level block");
  uint32_t n = 0;
  for (int b = 0; b < 4; ++b)
    n |= static_cast<uint32_t>(static_cast<uint8_t>(data[pos + b])) << (8 * b);
  return n;
}

}  // namespace

std::unique_ptr<ParquetFile> ParquetFile::Open(const std::string& path) {
  std::unique_ptr<ParquetFile> f(new ParquetFile());
  f->path_ = path;
  f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0) throw ParquetError(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(f->fd_, &st) != 0) throw ParquetError(path + ": cannot stat");
  f->file_size_ = st.st_size;
  if (f->file_size_ < 12) throw ParquetError(path + ": not a Parquet file (too short)");
  const std::string head = f->ReadBytes(0, 4);
  const std::string tail = f->ReadBytes(f->file_size_ - 8, 8);
  if (head != "PAR1" || tail.substr(4) != "PAR1") {
    throw ParquetError(path + ": not a Parquet file (no PAR1 magic)" +
                       (tail.substr(4) == "PARE" ? " (encrypted footers are not supported)" : ""));
  }
  const int64_t footer_len = ReadLe32(tail, 0, path);
  if (footer_len <= 0 || footer_len > f->file_size_ - 12 || footer_len > kMaxFooterBytes) {
    throw ParquetError(path + ": bad footer length " + std::to_string(footer_len));
  }
  const std::string footer = f->ReadBytes(f->file_size_ - 8 - footer_len, footer_len);
  try {
    size_t off = 0;
    const th::Struct meta = th::DecodeStruct(footer, &off);
    f->num_rows_ = th::Get(meta, 3, "FileMetaData.num_rows").Int("FileMetaData.num_rows");
    // The schema: a depth-first list, each group followed by its num_children children.
    const auto& elements = th::Get(meta, 2, "FileMetaData.schema").List("FileMetaData.schema");
    if (elements.empty()) throw ParquetError("empty schema");
    size_t next = 0;
    std::function<std::shared_ptr<SchemaNode>(int)> build = [&](int depth) {
      if (next >= elements.size()) throw ParquetError("schema list ends inside a group");
      if (depth > 32) throw ParquetError("schema nested deeper than 32 levels");
      const th::Struct& e = elements[next++].Fields("SchemaElement");
      auto node = std::make_shared<SchemaNode>();
      node->name = th::Get(e, 4, "SchemaElement.name").Str("SchemaElement.name");
      if (const auto* r = th::Find(e, 3))
        node->repetition = static_cast<int>(r->Int("repetition_type"));
      if (const auto* t = th::Find(e, 1)) node->physical_type = static_cast<int>(t->Int("type"));
      int64_t children = 0;
      if (const auto* c = th::Find(e, 5)) children = c->Int("num_children");
      if (children < 0 || children > static_cast<int64_t>(elements.size())) {
        throw ParquetError("bad num_children in the schema");
      }
      for (int64_t k = 0; k < children; ++k) node->children.push_back(build(depth + 1));
      return node;
    };
    f->root_ = build(0);
    for (const th::Value& rgv : th::Get(meta, 4, "FileMetaData.row_groups").List("row_groups")) {
      const th::Struct& rg = rgv.Fields("RowGroup");
      RowGroupInfo info;
      info.num_rows = th::Get(rg, 3, "RowGroup.num_rows").Int("RowGroup.num_rows");
      for (const th::Value& ccv : th::Get(rg, 1, "RowGroup.columns").List("RowGroup.columns")) {
        const th::Struct& cc = ccv.Fields("ColumnChunk");
        if (const auto* fp = th::Find(cc, 1); fp && !fp->Str("file_path").empty()) {
          throw ParquetError("column chunks in other files (file_path) are not supported");
        }
        const th::Struct& md = th::Get(cc, 3, "ColumnChunk.meta_data").Fields("ColumnMetaData");
        ChunkInfo ci;
        ci.type = static_cast<int>(th::Get(md, 1, "ColumnMetaData.type").Int("type"));
        for (const th::Value& p : th::Get(md, 3, "path_in_schema").List("path_in_schema")) {
          ci.path.push_back(p.Str("path_in_schema"));
        }
        ci.codec = static_cast<int>(th::Get(md, 4, "ColumnMetaData.codec").Int("codec"));
        ci.num_values = th::Get(md, 5, "ColumnMetaData.num_values").Int("num_values");
        ci.compressed_size = th::Get(md, 7, "total_compressed_size").Int("total_compressed_size");
        ci.start = th::Get(md, 9, "data_page_offset").Int("data_page_offset");
        if (const auto* d = th::Find(md, 11)) {
          const int64_t dict = d->Int("dictionary_page_offset");
          if (dict > 0 && dict < ci.start) ci.start = dict;
        }
        // Compared without adding: both come from the file and the sum could overflow.
        if (ci.start < 4 || ci.start > f->file_size_ || ci.compressed_size < 0 ||
            ci.compressed_size > f->file_size_ - ci.start) {
          throw ParquetError("a column chunk lies outside the file");
        }
        info.chunks.push_back(std::move(ci));
      }
      f->row_groups_.push_back(std::move(info));
    }
  } catch (const th::ThriftError& e) {
    throw ParquetError(path + ": corrupt footer: " + e.what());
  } catch (const ParquetError& e) {
    throw ParquetError(path + ": " + e.what());
  }
  return f;
}

ParquetFile::~ParquetFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ParquetFile::ReadBytes(int64_t offset, int64_t size) const {
  std::string out(static_cast<size_t>(size), '\0');
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd_, out.data() + done, size - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw ParquetError(path_ + ": read error at byte " + std::to_string(offset + done));
    done += n;
  }
  return out;
}

int ParquetFile::num_row_groups() const { return static_cast<int>(row_groups_.size()); }

int64_t ParquetFile::row_group_rows(int row_group) const {
  if (row_group < 0 || row_group >= num_row_groups()) {
    throw ParquetError(path_ + ": no row group " + std::to_string(row_group) + " (the file has " +
                       std::to_string(num_row_groups()) + ")");
  }
  return row_groups_[row_group].num_rows;
}

std::vector<std::string> ParquetFile::ColumnNames() const {
  std::vector<std::string> names;
  for (const auto& c : root_->children) names.push_back(c->name);
  return names;
}

bool ParquetFile::HasColumn(const std::string& name) const {
  for (const auto& c : root_->children) {
    if (c->name == name) return true;
  }
  return false;
}

ColumnLevels ParquetFile::ReadColumn(int row_group, const std::string& name) const {
  row_group_rows(row_group);  // range check
  ColumnLevels col;
  col.what = path_ + ": column " + name + " (row group " + std::to_string(row_group) + ")";
  // The path to the leaf and its levels.
  const SchemaNode* node = nullptr;
  for (const auto& c : root_->children) {
    if (c->name == name) node = c.get();
  }
  if (node == nullptr) {
    std::string have;
    for (const auto& n : ColumnNames()) have += (have.empty() ? "" : ", ") + n;
    throw ParquetError(path_ + ": no column '" + name + "' (columns: " + have + ")");
  }
  std::vector<std::string> path;
  while (true) {
    path.push_back(node->name);
    if (node->repetition == kOptional) {
      ++col.max_def;
    } else if (node->repetition == kRepeated) {
      ++col.max_def;
      ++col.max_rep;
      col.repeated_def.push_back(col.max_def);
    }
    if (node->children.empty()) break;
    if (node->children.size() != 1) {
      throw ParquetError(col.what + ": a struct with several fields, expected binary or lists");
    }
    node = node->children[0].get();
  }
  if (node->physical_type != kTypeByteArray) {
    throw ParquetError(col.what + ": physical type " + PhysicalTypeName(node->physical_type) +
                       ", expected BYTE_ARRAY (binary or string)");
  }
  const ChunkInfo* chunk = nullptr;
  for (const auto& c : row_groups_[row_group].chunks) {
    if (c.path == path) chunk = &c;
  }
  if (chunk == nullptr) throw ParquetError(col.what + ": no column chunk in the row group");
  if (!CodecSupported(chunk->codec)) {
    Decompress(chunk->codec, {}, 0, col.what);  // throws the unsupported-codec message
  }

  const int64_t group_rows = row_groups_[row_group].num_rows;
  if (chunk->num_values < 0 || chunk->num_values > kMaxChunkValues ||
      (col.max_rep == 0 && chunk->num_values != group_rows) ||
      (col.max_rep > 0 && chunk->num_values < group_rows)) {
    throw ParquetError(col.what + ": the column chunk has " + std::to_string(chunk->num_values) +
                       " values for " + std::to_string(group_rows) + " rows (at most " +
                       std::to_string(kMaxChunkValues) + " values a chunk are read)");
  }

  const std::string bytes = ReadBytes(chunk->start, chunk->compressed_size);
  std::string_view data(bytes);
  size_t pos = 0;
  std::vector<std::string> dictionary;
  bool have_dictionary = false;
  int64_t levels_read = 0;
  // A page's value count, from the file: it must fit what the chunk has left.
  auto check_count = [&](int64_t n) {
    if (n < 0 || n > chunk->num_values - levels_read) {
      throw ParquetError(col.what + ": a page of " + std::to_string(n) + " values where " +
                         std::to_string(chunk->num_values - levels_read) + " remain");
    }
  };
  try {
    while (levels_read < chunk->num_values) {
      if (pos >= data.size()) throw ParquetError(col.what + ": the pages end early");
      th::Struct header;
      try {
        header = th::DecodeStruct(data, &pos);
      } catch (const th::ThriftError& e) {
        throw ParquetError(col.what + ": corrupt page header: " + e.what());
      }
      const int type = static_cast<int>(th::Get(header, 1, "PageHeader.type").Int("type"));
      const int64_t raw_size = th::Get(header, 2, "uncompressed_page_size").Int("size");
      const int64_t comp_size = th::Get(header, 3, "compressed_page_size").Int("size");
      if (comp_size < 0 || static_cast<size_t>(comp_size) > data.size() - pos) {
        throw ParquetError(col.what + ": a page runs past its column chunk");
      }
      const std::string_view page = data.substr(pos, comp_size);
      pos += comp_size;
      if (type == kPageDictionary) {
        const th::Struct& dh = th::Get(header, 7, "dictionary_page_header").Fields("dict");
        const int64_t n = th::Get(dh, 1, "DictionaryPageHeader.num_values").Int("num_values");
        if (n < 0)
          throw ParquetError(col.what + ": a dictionary of " + std::to_string(n) + " values");
        const int enc = static_cast<int>(th::Get(dh, 2, "DictionaryPageHeader.encoding").Int("e"));
        if (enc != kEncPlain && enc != kEncPlainDictionary) {
          throw ParquetError(col.what + ": dictionary page encoding " + std::to_string(enc));
        }
        dictionary.clear();
        DecodePlainByteArrays(Decompress(chunk->codec, page, raw_size, col.what), n, col.what,
                              dictionary);
        have_dictionary = true;
        continue;
      }
      if (type != kPageData && type != kPageDataV2) continue;  // index pages: skip
      int64_t n = 0;
      int encoding = 0;
      std::string decompressed;
      std::string_view values;
      const size_t level_start = col.def.size();
      if (type == kPageData) {
        const th::Struct& dh = th::Get(header, 5, "data_page_header").Fields("data_page_header");
        n = th::Get(dh, 1, "DataPageHeader.num_values").Int("num_values");
        check_count(n);
        encoding = static_cast<int>(th::Get(dh, 2, "DataPageHeader.encoding").Int("encoding"));
        decompressed = Decompress(chunk->codec, page, raw_size, col.what);
        std::string_view body(decompressed);
        size_t at = 0;
        auto levels = [&](int max_level, std::vector<int16_t>& out, const char* which) {
          if (max_level == 0) {
            out.insert(out.end(), n, 0);
            return;
          }
          const int enc_field = which[0] == 'r' ? 4 : 3;
          if (const auto* le = th::Find(dh, enc_field);
              le && le->Int("level encoding") != kEncRle) {
            throw ParquetError(col.what + ": " + which + " levels with encoding " +
                               std::to_string(le->Int("level encoding")) + " (only RLE)");
          }
          const int64_t len = ReadLe32(body, at, col.what);
          if (static_cast<size_t>(len) > body.size() - at - 4) {
            throw ParquetError(col.what + ": level block past the page");
          }
          DecodeLevels(body.substr(at + 4, len), max_level, n, col.what, out);
          at += 4 + len;
        };
        levels(col.max_rep, col.rep, "repetition");
        levels(col.max_def, col.def, "definition");
        values = body.substr(at);
      } else {
        const th::Struct& dh = th::Get(header, 8, "data_page_header_v2").Fields("v2");
        n = th::Get(dh, 1, "DataPageHeaderV2.num_values").Int("num_values");
        check_count(n);
        encoding = static_cast<int>(th::Get(dh, 4, "DataPageHeaderV2.encoding").Int("encoding"));
        const int64_t def_len = th::Get(dh, 5, "definition_levels_byte_length").Int("len");
        const int64_t rep_len = th::Get(dh, 6, "repetition_levels_byte_length").Int("len");
        bool compressed = true;
        if (const auto* c = th::Find(dh, 7)) compressed = c->Int("is_compressed") != 0;
        if (def_len < 0 || rep_len < 0 || def_len > comp_size || rep_len > comp_size - def_len) {
          throw ParquetError(col.what + ": bad level lengths in a v2 page");
        }
        if (col.max_rep > 0) {
          DecodeLevels(page.substr(0, rep_len), col.max_rep, n, col.what, col.rep);
        } else {
          col.rep.insert(col.rep.end(), n, 0);
        }
        if (col.max_def > 0) {
          DecodeLevels(page.substr(rep_len, def_len), col.max_def, n, col.what, col.def);
        } else {
          col.def.insert(col.def.end(), n, 0);
        }
        const std::string_view rest = page.substr(rep_len + def_len);
        const int64_t rest_raw = raw_size - rep_len - def_len;
        if (compressed) {
          decompressed = Decompress(chunk->codec, rest, rest_raw, col.what);
          values = decompressed;
        } else {
          values = rest;
        }
      }
      int64_t present = 0;
      for (size_t k = level_start; k < col.def.size(); ++k) present += col.def[k] == col.max_def;
      if (encoding == kEncPlain) {
        DecodePlainByteArrays(values, present, col.what, col.values);
      } else if (encoding == kEncPlainDictionary || encoding == kEncRleDictionary) {
        if (!have_dictionary)
          throw ParquetError(col.what + ": dictionary-encoded page without dictionary");
        if (present > 0) {
          if (values.empty()) throw ParquetError(col.what + ": empty dictionary index block");
          const int bw = static_cast<uint8_t>(values[0]);
          if (bw > 32) throw ParquetError(col.what + ": bad dictionary index width");
          DecodeHybrid(values.substr(1), bw, present, col.what, [&](uint32_t i) {
            if (i >= dictionary.size())
              throw ParquetError(col.what + ": dictionary index out of range");
            col.values.push_back(dictionary[i]);
          });
        }
      } else {
        throw ParquetError(col.what + ": value encoding " + std::to_string(encoding) +
                           " is not supported (PLAIN or dictionary)");
      }
      levels_read += n;
    }
  } catch (const th::ThriftError& e) {
    // A page header with a missing field or a field of the wrong type.
    throw ParquetError(col.what + ": corrupt page header: " + e.what());
  }
  // Rows start where the repetition level is 0.
  size_t v = 0;
  for (size_t k = 0; k < col.def.size(); ++k) {
    if (col.rep[k] == 0) {
      col.row_begin.push_back(k);
      col.value_begin.push_back(v);
    }
    v += col.def[k] == col.max_def;
  }
  col.row_begin.push_back(col.def.size());
  col.value_begin.push_back(v);
  if (static_cast<int64_t>(col.num_rows()) != row_groups_[row_group].num_rows) {
    throw ParquetError(col.what + ": " + std::to_string(col.num_rows()) +
                       " rows, the row group has " +
                       std::to_string(row_groups_[row_group].num_rows));
  }
  return col;
}

// ----- shapes -------------------------------------------------------------------------------

std::optional<std::string> ColumnLevels::Scalar(size_t row) const {
  if (max_rep != 0) throw ParquetError(what + ": a list, expected a single value per row");
  if (def[row_begin[row]] != max_def) return std::nullopt;
  return values[value_begin[row]];
}

std::vector<std::optional<std::string>> ColumnLevels::List(size_t row) const {
  if (max_rep != 1) {
    throw ParquetError(what + ": expected a list of values, found " +
                       (max_rep == 0 ? std::string("single values") : "nested lists"));
  }
  std::vector<std::optional<std::string>> out;
  size_t v = value_begin[row];
  for (size_t k = row_begin[row]; k < row_begin[row + 1]; ++k) {
    if (def[k] < repeated_def[0]) continue;  // null or empty list
    if (def[k] == max_def) {
      out.emplace_back(values[v++]);
    } else {
      out.emplace_back(std::nullopt);
    }
  }
  return out;
}

std::vector<std::vector<std::optional<std::string>>> ColumnLevels::ListOfLists(size_t row) const {
  if (max_rep != 2) {
    throw ParquetError(what + ": expected a list of lists, found " +
                       (max_rep < 2 ? std::string("a flatter column") : "deeper lists"));
  }
  std::vector<std::vector<std::optional<std::string>>> out;
  size_t v = value_begin[row];
  for (size_t k = row_begin[row]; k < row_begin[row + 1]; ++k) {
    if (def[k] < repeated_def[0]) continue;  // null or empty outer list
    if (rep[k] <= 1) out.emplace_back();     // a new outer element
    if (out.empty()) throw ParquetError(what + ": repetition level 2 without an outer element");
    if (def[k] < repeated_def[1]) continue;  // null or empty inner list
    if (def[k] == max_def) {
      out.back().emplace_back(values[v++]);
    } else {
      out.back().emplace_back(std::nullopt);
    }
  }
  return out;
}

}  // namespace bagel::data::parquet
