// Parquet files for the official BAGEL datasets (docs/MODEL.md §3.1), read through Apache Arrow
// C++ (parquet::arrow, from PyPI's pyarrow wheel): T2I files (`image`: binary, `captions`:
// string) and edit files (`image_list`: list<binary>, `instruction_list`: list<list<string>>),
// whatever wrote them -- pyarrow, polars, DuckDB, fastparquet, Hugging Face `datasets`.
//
// Every codec and encoding Arrow reads (none, snappy, gzip, zstd, lz4, lz4_raw, brotli; plain,
// dictionary, delta, byte stream split; data pages v1 and v2). Byte values may be binary,
// large_binary, string, large_string, their view types, fixed-size binary or dictionary-encoded;
// lists may be list, large_list, list_view or fixed-size lists. An image value may also be a
// Hugging Face `datasets` Image struct {bytes, path}: its bytes, or, when they are null, the file
// at `path` (relative to the parquet file's folder). Other columns of a file are never read.
//
// Only what a call asks for is read: Open reads the footer, ReadColumn one column of one row
// group. Anything wrong is a ParquetError naming the file, the column and the row group.
// A ParquetFile serves one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/data/parquet/parquet_error.h"

namespace bagel::data::parquet {

// One top-level column of one row group, decoded, with the shapes BAGEL's datasets use. Each
// accessor throws ParquetError when the column has another type; a null value or list is
// nullopt / empty.
class ParquetColumn {
 public:
  struct Data;  // the Arrow arrays (parquet_file.cc)
  ParquetColumn();
  ParquetColumn(std::string what, std::shared_ptr<const Data> data);

  const std::string& what() const { return what_; }  // "file.parquet: column x (row group 2)"
  size_t num_rows() const;
  std::optional<std::string> Scalar(size_t row) const;
  std::vector<std::optional<std::string>> List(size_t row) const;
  std::vector<std::vector<std::optional<std::string>>> ListOfLists(size_t row) const;

 private:
  std::string what_;
  std::shared_ptr<const Data> data_;
};

class ParquetFile {
 public:
  // Opens `path` and reads its footer; throws ParquetError naming the file.
  static std::unique_ptr<ParquetFile> Open(const std::string& path);
  ~ParquetFile();

  const std::string& path() const { return path_; }
  int64_t num_rows() const;
  int num_row_groups() const;
  int64_t row_group_rows(int row_group) const;
  std::vector<std::string> ColumnNames() const;  // top-level fields
  bool HasColumn(const std::string& name) const;

  // Top-level field `name` of `row_group`.
  ParquetColumn ReadColumn(int row_group, const std::string& name) const;

 private:
  struct Reader;
  explicit ParquetFile(std::string path);

  std::string path_;
  std::unique_ptr<Reader> reader_;
};

}  // namespace bagel::data::parquet
