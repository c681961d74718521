// A reader of Parquet files, enough for the official BAGEL datasets (BAGEL.md §3.1): T2I files
// (`image`: binary, `captions`: string) and edit files (`image_list`: list<binary>,
// `instruction_list`: list<list<string>>), as pyarrow and other writers produce them.
//
// Supported: the footer (Thrift compact protocol, thrift_compact.h), any schema whose wanted
// top-level fields are BYTE_ARRAY leaves or (nested) lists of them, in the standard 3-level or
// the legacy 2-level list layout; data pages v1 and v2; PLAIN and dictionary (PLAIN_DICTIONARY,
// RLE_DICTIONARY) value encodings; RLE / bit-packed levels; the codecs of decompress.h. Other
// columns of a file are never read. Anything else is a ParquetError naming the file, the column
// and what was found.
//
// A ParquetFile is read with pread and may be shared by threads; each call reads what it needs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/data/parquet/decompress.h"

namespace bagel::data::parquet {

// One leaf column of one row group as Dremel levels, split into rows.
struct ColumnLevels {
  std::string what;  // "file.parquet: column image_list (row group 2)", for messages
  int max_def = 0;
  int max_rep = 0;
  std::vector<int> repeated_def;    // the definition level of each repeated ancestor, outer first
  std::vector<int16_t> def, rep;    // one per level entry
  std::vector<std::string> values;  // one per entry whose def == max_def, in order
  std::vector<size_t> row_begin;    // first entry of each row; size num_rows() + 1
  std::vector<size_t> value_begin;  // first value of each row; size num_rows() + 1

  size_t num_rows() const { return row_begin.empty() ? 0 : row_begin.size() - 1; }
  // The shapes BAGEL's datasets use; each throws ParquetError when the column has another depth.
  // A null value or list is nullopt / empty.
  std::optional<std::string> Scalar(size_t row) const;
  std::vector<std::optional<std::string>> List(size_t row) const;
  std::vector<std::vector<std::optional<std::string>>> ListOfLists(size_t row) const;
};

class ParquetFile {
 public:
  // Opens `path` and decodes its footer; throws ParquetError naming the file.
  static std::unique_ptr<ParquetFile> Open(const std::string& path);
  ~ParquetFile();

  const std::string& path() const { return path_; }
  int64_t num_rows() const { return num_rows_; }
  int num_row_groups() const;
  int64_t row_group_rows(int row_group) const;
  std::vector<std::string> ColumnNames() const;  // top-level fields
  bool HasColumn(const std::string& name) const;

  // The leaf under top-level field `name` in `row_group`.
  ColumnLevels ReadColumn(int row_group, const std::string& name) const;

  struct SchemaNode;
  struct ChunkInfo;
  struct RowGroupInfo;

 private:
  ParquetFile() = default;
  std::string ReadBytes(int64_t offset, int64_t size) const;

  std::string path_;
  int fd_ = -1;
  int64_t file_size_ = 0;
  int64_t num_rows_ = 0;
  std::shared_ptr<SchemaNode> root_;
  std::vector<RowGroupInfo> row_groups_;
};

}  // namespace bagel::data::parquet
