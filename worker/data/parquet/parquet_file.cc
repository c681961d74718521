#include "worker/data/parquet/parquet_file.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bagel::data::parquet {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void Fail(const std::string& what, const std::string& why) {
  throw ParquetError(what + ": " + why);
}

template <typename T>
T ValueOrFail(arrow::Result<T> result, const std::string& what) {
  if (!result.ok()) Fail(what, result.status().ToString());
  return std::move(result).ValueUnsafe();
}

void OkOrFail(const arrow::Status& status, const std::string& what) {
  if (!status.ok()) Fail(what, status.ToString());
}

// An image stored by path only (a Hugging Face Image struct without bytes).
std::string ReadImagePath(const std::string& path, const std::string& dir,
                          const std::string& what) {
  const fs::path p = fs::path(path).is_absolute() ? fs::path(path) : fs::path(dir) / path;
  std::ifstream in(p, std::ios::binary);
  if (!in) Fail(what, "image struct has no bytes and its path " + p.string() + " cannot be read");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::move(bytes).str();
}

}  // namespace

struct ParquetColumn::Data {
  std::string dir;  // the parquet file's folder, for image structs that hold a path
  std::vector<std::shared_ptr<arrow::Array>> chunks;
  std::vector<int64_t> chunk_begin;  // first row of each chunk
  int64_t rows = 0;

  // The chunk holding `row` and the row's index inside it.
  std::pair<const arrow::Array*, int64_t> Locate(size_t row, const std::string& what) const {
    if (static_cast<int64_t>(row) >= rows) {
      Fail(what, "row " + std::to_string(row) + " is past the row group's " + std::to_string(rows) +
                     " rows");
    }
    const auto it =
        std::upper_bound(chunk_begin.begin(), chunk_begin.end(), static_cast<int64_t>(row));
    const size_t k = static_cast<size_t>(it - chunk_begin.begin()) - 1;
    return {chunks[k].get(), static_cast<int64_t>(row) - chunk_begin[k]};
  }

  // The bytes of element `i` of a binary-like (or image struct) array.
  std::optional<std::string> Bytes(const arrow::Array& a, int64_t i,
                                   const std::string& what) const {
    if (a.IsNull(i)) return std::nullopt;
    switch (a.type_id()) {
      case arrow::Type::BINARY:
      case arrow::Type::STRING:
        return std::string(static_cast<const arrow::BinaryArray&>(a).GetView(i));
      case arrow::Type::LARGE_BINARY:
      case arrow::Type::LARGE_STRING:
        return std::string(static_cast<const arrow::LargeBinaryArray&>(a).GetView(i));
      case arrow::Type::BINARY_VIEW:
      case arrow::Type::STRING_VIEW:
        return std::string(static_cast<const arrow::BinaryViewArray&>(a).GetView(i));
      case arrow::Type::FIXED_SIZE_BINARY:
        return std::string(static_cast<const arrow::FixedSizeBinaryArray&>(a).GetView(i));
      case arrow::Type::DICTIONARY: {
        const auto& d = static_cast<const arrow::DictionaryArray&>(a);
        return Bytes(*d.dictionary(), d.GetValueIndex(i), what);
      }
      case arrow::Type::STRUCT: {
        // Hugging Face `datasets` Image: {bytes: binary, path: string}.
        const auto& s = static_cast<const arrow::StructArray&>(a);
        const auto bytes = s.GetFieldByName("bytes");
        if (bytes == nullptr) break;
        if (auto value = Bytes(*bytes, i, what)) return value;
        const auto path = s.GetFieldByName("path");
        if (path == nullptr) return std::nullopt;
        const auto where = Bytes(*path, i, what);
        if (!where || where->empty()) return std::nullopt;
        return ReadImagePath(*where, dir, what);
      }
      default:
        break;
    }
    Fail(what, "expected binary or string values (or an image struct {bytes, path}), found " +
                   a.type()->ToString());
  }

  // The [begin, end) range of list element `i` in the list's values array.
  struct Range {
    const arrow::Array* values = nullptr;
    int64_t begin = 0, end = 0;
  };
  static Range ListRange(const arrow::Array& a, int64_t i, const std::string& what) {
    if (a.IsNull(i)) return {};
    auto range = [&](const auto& list) {
      return Range{
          list.values().get(), static_cast<int64_t>(list.value_offset(i)),
          static_cast<int64_t>(list.value_offset(i)) + static_cast<int64_t>(list.value_length(i))};
    };
    switch (a.type_id()) {
      case arrow::Type::LIST:
        return range(static_cast<const arrow::ListArray&>(a));
      case arrow::Type::LARGE_LIST:
        return range(static_cast<const arrow::LargeListArray&>(a));
      case arrow::Type::LIST_VIEW:
        return range(static_cast<const arrow::ListViewArray&>(a));
      case arrow::Type::LARGE_LIST_VIEW:
        return range(static_cast<const arrow::LargeListViewArray&>(a));
      case arrow::Type::FIXED_SIZE_LIST:
        return range(static_cast<const arrow::FixedSizeListArray&>(a));
      default:
        Fail(what, "expected a list, found " + a.type()->ToString());
    }
  }

  std::vector<std::optional<std::string>> ListOfBytes(const arrow::Array& a, int64_t i,
                                                      const std::string& what) const {
    const Range r = ListRange(a, i, what);
    std::vector<std::optional<std::string>> out;
    out.reserve(static_cast<size_t>(r.end - r.begin));
    for (int64_t k = r.begin; k < r.end; ++k) out.push_back(Bytes(*r.values, k, what));
    return out;
  }
};

ParquetColumn::ParquetColumn() : data_(std::make_shared<Data>()) {}
ParquetColumn::ParquetColumn(std::string what, std::shared_ptr<const Data> data)
    : what_(std::move(what)), data_(std::move(data)) {}

size_t ParquetColumn::num_rows() const { return static_cast<size_t>(data_->rows); }

std::optional<std::string> ParquetColumn::Scalar(size_t row) const {
  const auto [array, i] = data_->Locate(row, what_);
  return data_->Bytes(*array, i, what_);
}

std::vector<std::optional<std::string>> ParquetColumn::List(size_t row) const {
  const auto [array, i] = data_->Locate(row, what_);
  return data_->ListOfBytes(*array, i, what_);
}

std::vector<std::vector<std::optional<std::string>>> ParquetColumn::ListOfLists(size_t row) const {
  const auto [array, i] = data_->Locate(row, what_);
  const Data::Range outer = Data::ListRange(*array, i, what_);
  std::vector<std::vector<std::optional<std::string>>> out;
  out.reserve(static_cast<size_t>(outer.end - outer.begin));
  for (int64_t k = outer.begin; k < outer.end; ++k) {
    out.push_back(data_->ListOfBytes(*outer.values, k, what_));
  }
  return out;
}

struct ParquetFile::Reader {
  std::unique_ptr<::parquet::arrow::FileReader> arrow;
  std::shared_ptr<::parquet::FileMetaData> metadata;
  std::shared_ptr<arrow::Schema> schema;
};

ParquetFile::ParquetFile(std::string path) : path_(std::move(path)) {}
ParquetFile::~ParquetFile() = default;

std::unique_ptr<ParquetFile> ParquetFile::Open(const std::string& path) {
  std::unique_ptr<ParquetFile> file(new ParquetFile(path));
  auto reader = std::make_unique<Reader>();
  try {
    // The system allocator: decoded row groups are freed as soon as the records are built, and
    // glibc gives that memory back to the loader threads (Arrow's own pools keep it).
    arrow::MemoryPool* pool = arrow::system_memory_pool();
    auto input = ValueOrFail(arrow::io::ReadableFile::Open(path, pool), path);
    ::parquet::arrow::FileReaderBuilder builder;
    OkOrFail(builder.Open(input), path);
    ::parquet::ArrowReaderProperties properties;
    properties.set_use_threads(false);  // the data stream's loader threads are the parallelism
    reader->arrow = ValueOrFail(builder.memory_pool(pool)->properties(properties)->Build(), path);
    reader->metadata = reader->arrow->parquet_reader()->metadata();
    OkOrFail(reader->arrow->GetSchema(&reader->schema), path);
  } catch (const ParquetError&) {
    throw;
  } catch (const ::parquet::ParquetException& e) {  // a bad footer
    Fail(path, e.what());
  }
  file->reader_ = std::move(reader);
  return file;
}

int64_t ParquetFile::num_rows() const { return reader_->metadata->num_rows(); }
int ParquetFile::num_row_groups() const { return reader_->metadata->num_row_groups(); }

int64_t ParquetFile::row_group_rows(int row_group) const {
  if (row_group < 0 || row_group >= num_row_groups()) {
    Fail(path_, "row group " + std::to_string(row_group) + " does not exist (the file has " +
                    std::to_string(num_row_groups()) + ")");
  }
  return reader_->metadata->RowGroup(row_group)->num_rows();
}

std::vector<std::string> ParquetFile::ColumnNames() const { return reader_->schema->field_names(); }

bool ParquetFile::HasColumn(const std::string& name) const {
  return reader_->schema->GetFieldIndex(name) >= 0;
}

ParquetColumn ParquetFile::ReadColumn(int row_group, const std::string& name) const {
  const std::string what =
      path_ + ": column " + name + " (row group " + std::to_string(row_group) + ")";
  const int field = reader_->schema->GetFieldIndex(name);
  if (field < 0) {
    const auto names = ColumnNames();
    std::string have;
    for (const auto& n : names) have += (have.empty() ? "" : ", ") + n;
    Fail(what, "no such column (the file has: " + have + ")");
  }
  const int64_t rows = row_group_rows(row_group);
  auto data = std::make_shared<ParquetColumn::Data>();
  data->dir = fs::path(path_).parent_path().string();
  try {
    std::shared_ptr<arrow::ChunkedArray> chunked;
    OkOrFail(reader_->arrow->RowGroup(row_group)->Column(field)->Read(&chunked), what);
    int64_t begin = 0;
    for (const auto& chunk : chunked->chunks()) {
      OkOrFail(chunk->Validate(), what);
      data->chunks.push_back(chunk);
      data->chunk_begin.push_back(begin);
      begin += chunk->length();
    }
    data->rows = begin;
  } catch (const ParquetError&) {
    throw;
  } catch (const ::parquet::ParquetException& e) {  // a corrupt page
    Fail(what, e.what());
  }
  if (data->rows != rows) {
    Fail(what, "decoded " + std::to_string(data->rows) + " rows where the footer says " +
                   std::to_string(rows));
  }
  return ParquetColumn(what, std::move(data));
}

}  // namespace bagel::data::parquet
