// Writes small Parquet files in the official BAGEL dataset layouts through Apache Arrow C++
// (parquet::arrow::WriteTable), for the dataset generator (dataset_generator.h) and the tests:
// `rows_per_group` rows per row group, snappy pages, standard 3-level lists, string columns as
// Arrow strings (UTF8 annotation), as pyarrow writes them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bagel::data::parquet {

enum class ColumnKind {
  kBinary,          // binary
  kString,          // string (UTF8)
  kBinaryList,      // list<binary>
  kStringListList,  // list<list<string>>
};

struct ColumnSpec {
  std::string name;
  ColumnKind kind = ColumnKind::kBinary;
};

// One cell: `scalar` for kBinary / kString, `list` for kBinaryList, `lists` for kStringListList.
struct Cell {
  std::string scalar;
  std::vector<std::string> list;
  std::vector<std::vector<std::string>> lists;
};

using Row = std::vector<Cell>;  // one cell per column, in column order

// Writes `rows` to `path`; throws ParquetError naming the file on an I/O error or a row of the
// wrong width.
void WriteParquet(const std::string& path, const std::vector<ColumnSpec>& columns,
                  const std::vector<Row>& rows, int64_t rows_per_group);

}  // namespace bagel::data::parquet
