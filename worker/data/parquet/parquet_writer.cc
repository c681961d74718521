#include "worker/data/parquet/parquet_writer.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "worker/data/parquet/parquet_error.h"

namespace bagel::data::parquet {
namespace {

void OkOrFail(const arrow::Status& status, const std::string& path) {
  if (!status.ok()) throw ParquetError(path + ": " + status.ToString());
}

std::shared_ptr<arrow::DataType> TypeOf(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kBinary:
      return arrow::binary();
    case ColumnKind::kString:
      return arrow::utf8();
    case ColumnKind::kBinaryList:
      return arrow::list(arrow::binary());
    case ColumnKind::kStringListList:
      return arrow::list(arrow::list(arrow::utf8()));
  }
  return nullptr;
}

std::shared_ptr<arrow::Array> BuildColumn(const ColumnSpec& spec, size_t column,
                                          const std::vector<Row>& rows, const std::string& path) {
  arrow::MemoryPool* pool = arrow::default_memory_pool();
  std::shared_ptr<arrow::Array> out;
  switch (spec.kind) {
    case ColumnKind::kBinary:
    case ColumnKind::kString: {
      std::unique_ptr<arrow::ArrayBuilder> b;
      if (spec.kind == ColumnKind::kBinary) {
        b = std::make_unique<arrow::BinaryBuilder>(pool);
      } else {
        b = std::make_unique<arrow::StringBuilder>(pool);
      }
      auto& bytes = static_cast<arrow::BaseBinaryBuilder<arrow::BinaryType>&>(*b);
      for (const Row& r : rows) OkOrFail(bytes.Append(r[column].scalar), path);
      OkOrFail(b->Finish(&out), path);
      break;
    }
    case ColumnKind::kBinaryList: {
      auto values = std::make_shared<arrow::BinaryBuilder>(pool);
      arrow::ListBuilder list(pool, values);
      for (const Row& r : rows) {
        OkOrFail(list.Append(), path);
        for (const std::string& v : r[column].list) OkOrFail(values->Append(v), path);
      }
      OkOrFail(list.Finish(&out), path);
      break;
    }
    case ColumnKind::kStringListList: {
      auto strings = std::make_shared<arrow::StringBuilder>(pool);
      auto inner = std::make_shared<arrow::ListBuilder>(pool, strings);
      arrow::ListBuilder outer(pool, inner);
      for (const Row& r : rows) {
        OkOrFail(outer.Append(), path);
        for (const auto& l : r[column].lists) {
          OkOrFail(inner->Append(), path);
          for (const std::string& v : l) OkOrFail(strings->Append(v), path);
        }
      }
      OkOrFail(outer.Finish(&out), path);
      break;
    }
  }
  return out;
}

}  // namespace

void WriteParquet(const std::string& path, const std::vector<ColumnSpec>& columns,
                  const std::vector<Row>& rows, int64_t rows_per_group) {
  if (rows_per_group <= 0) throw ParquetError(path + ": rows_per_group must be positive");
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != columns.size()) {
      throw ParquetError(path + ": row " + std::to_string(i) + " has " +
                         std::to_string(rows[i].size()) + " cells for " +
                         std::to_string(columns.size()) + " columns");
    }
  }
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (size_t c = 0; c < columns.size(); ++c) {
    fields.push_back(arrow::field(columns[c].name, TypeOf(columns[c].kind)));
    arrays.push_back(BuildColumn(columns[c], c, rows, path));
  }
  const auto table =
      arrow::Table::Make(arrow::schema(fields), arrays, static_cast<int64_t>(rows.size()));
  auto file = arrow::io::FileOutputStream::Open(path);
  OkOrFail(file.status(), path);
  const auto properties =
      ::parquet::WriterProperties::Builder().compression(arrow::Compression::SNAPPY)->build();
  OkOrFail(::parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), *file, rows_per_group,
                                        properties),
           path);
  OkOrFail((*file)->Close(), path);
}

}  // namespace bagel::data::parquet
