#include "worker/data/parquet/parquet_writer.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "worker/data/parquet/decompress.h"
#include "worker/data/parquet/thrift_compact.h"

namespace bagel::data::parquet {
namespace {

constexpr int kRequired = 0, kOptional = 1, kRepeated = 2;
constexpr int kByteArray = 6;
constexpr int kConvertedUtf8 = 0, kConvertedList = 3;

struct Levels {
  std::vector<int> def, rep;
  std::string values;  // PLAIN byte arrays
  int64_t count = 0;
};

void PutLe32(std::string& out, uint32_t v) {
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}

void AddValue(Levels& l, const std::string& v, int def, int rep) {
  l.def.push_back(def);
  l.rep.push_back(rep);
  PutLe32(l.values, static_cast<uint32_t>(v.size()));
  l.values += v;
}

// RLE runs of equal levels, as one length-prefixed block.
std::string EncodeLevels(const std::vector<int>& levels, int max_level) {
  std::string runs;
  const int bytes = max_level < 256 ? 1 : 2;
  for (size_t i = 0; i < levels.size();) {
    size_t j = i;
    while (j < levels.size() && levels[j] == levels[i]) ++j;
    uint64_t header = static_cast<uint64_t>(j - i) << 1;
    while (header >= 0x80) {
      runs.push_back(static_cast<char>((header & 0x7f) | 0x80));
      header >>= 7;
    }
    runs.push_back(static_cast<char>(header));
    for (int b = 0; b < bytes; ++b)
      runs.push_back(static_cast<char>((levels[i] >> (8 * b)) & 0xff));
    i = j;
  }
  std::string out;
  PutLe32(out, static_cast<uint32_t>(runs.size()));
  return out + runs;
}

// Dremel levels of one column over rows [begin, end). Top-level fields are optional (def 1);
// lists are optional groups of a repeated "list" group of optional "element"s.
Levels Shred(const std::vector<Row>& rows, size_t begin, size_t end, size_t c, ColumnKind kind) {
  Levels l;
  for (size_t r = begin; r < end; ++r) {
    const Cell& cell = rows[r][c];
    switch (kind) {
      case ColumnKind::kBinary:
      case ColumnKind::kString:
        AddValue(l, cell.scalar, 1, 0);
        break;
      case ColumnKind::kBinaryList:
        if (cell.list.empty()) {
          l.def.push_back(1);
          l.rep.push_back(0);
        }
        for (size_t k = 0; k < cell.list.size(); ++k) AddValue(l, cell.list[k], 3, k == 0 ? 0 : 1);
        break;
      case ColumnKind::kStringListList:
        if (cell.lists.empty()) {
          l.def.push_back(1);
          l.rep.push_back(0);
        }
        for (size_t k = 0; k < cell.lists.size(); ++k) {
          const int outer_rep = k == 0 ? 0 : 1;
          if (cell.lists[k].empty()) {
            l.def.push_back(3);
            l.rep.push_back(outer_rep);
          }
          for (size_t m = 0; m < cell.lists[k].size(); ++m) {
            AddValue(l, cell.lists[k][m], 5, m == 0 ? outer_rep : 2);
          }
        }
        break;
    }
  }
  l.count = static_cast<int64_t>(l.def.size());
  return l;
}

int MaxDef(ColumnKind k) {
  return k == ColumnKind::kBinaryList ? 3 : (k == ColumnKind::kStringListList ? 5 : 1);
}
int MaxRep(ColumnKind k) {
  return k == ColumnKind::kBinaryList ? 1 : (k == ColumnKind::kStringListList ? 2 : 0);
}

std::vector<std::string> LeafPath(const ColumnSpec& c) {
  switch (c.kind) {
    case ColumnKind::kBinaryList:
      return {c.name, "list", "element"};
    case ColumnKind::kStringListList:
      return {c.name, "list", "element", "list", "element"};
    default:
      return {c.name};
  }
}

void SchemaElement(thrift::Encoder& e, const std::string& name, int repetition, int type,
                   int children, int converted) {
  e.BeginListStruct();
  if (type >= 0) e.I32(1, type);
  if (repetition >= 0) e.I32(3, repetition);
  e.Binary(4, name);
  if (children >= 0) e.I32(5, children);
  if (converted >= 0) e.I32(6, converted);
  e.EndStruct();
}

}  // namespace

void WriteParquet(const std::string& path, const std::vector<ColumnSpec>& columns,
                  const std::vector<Row>& rows, int64_t rows_per_group) {
  if (rows_per_group <= 0) throw ParquetError(path + ": rows_per_group must be positive");
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != columns.size()) {
      throw ParquetError(path + ": row " + std::to_string(r) + " has " +
                         std::to_string(rows[r].size()) + " cells for " +
                         std::to_string(columns.size()) + " columns");
    }
  }
  std::string file = "PAR1";
  struct ChunkMeta {
    int64_t offset, size, num_values;
  };
  std::vector<std::vector<ChunkMeta>> groups;
  std::vector<int64_t> group_rows;
  for (size_t begin = 0; begin < rows.size() || (begin == 0 && rows.empty());
       begin += rows_per_group) {
    const size_t end = std::min(rows.size(), begin + static_cast<size_t>(rows_per_group));
    std::vector<ChunkMeta> chunks;
    for (size_t c = 0; c < columns.size(); ++c) {
      const Levels l = Shred(rows, begin, end, c, columns[c].kind);
      std::string body;
      if (MaxRep(columns[c].kind) > 0) body += EncodeLevels(l.rep, MaxRep(columns[c].kind));
      body += EncodeLevels(l.def, MaxDef(columns[c].kind));
      body += l.values;
      thrift::Encoder h;
      h.I32(1, 0);  // DATA_PAGE
      h.I32(2, static_cast<int32_t>(body.size()));
      h.I32(3, static_cast<int32_t>(body.size()));
      h.BeginStruct(5);
      h.I32(1, static_cast<int32_t>(l.count));
      h.I32(2, 0);  // PLAIN
      h.I32(3, 3);  // RLE
      h.I32(4, 3);  // RLE
      h.EndStruct();
      h.End();
      const int64_t offset = static_cast<int64_t>(file.size());
      file += h.bytes();
      file += body;
      chunks.push_back({offset, static_cast<int64_t>(file.size()) - offset, l.count});
    }
    groups.push_back(std::move(chunks));
    group_rows.push_back(static_cast<int64_t>(end - begin));
    if (rows.empty()) break;
  }

  thrift::Encoder m;
  m.I32(1, 1);  // version
  int elements = 1;
  for (const auto& c : columns) {
    elements +=
        c.kind == ColumnKind::kBinaryList ? 3 : (c.kind == ColumnKind::kStringListList ? 5 : 1);
  }
  m.BeginStructList(2, elements);
  SchemaElement(m, "schema", -1, -1, static_cast<int>(columns.size()), -1);
  for (const auto& c : columns) {
    switch (c.kind) {
      case ColumnKind::kBinary:
        SchemaElement(m, c.name, kOptional, kByteArray, -1, -1);
        break;
      case ColumnKind::kString:
        SchemaElement(m, c.name, kOptional, kByteArray, -1, kConvertedUtf8);
        break;
      case ColumnKind::kBinaryList:
        SchemaElement(m, c.name, kOptional, -1, 1, kConvertedList);
        SchemaElement(m, "list", kRepeated, -1, 1, -1);
        SchemaElement(m, "element", kOptional, kByteArray, -1, -1);
        break;
      case ColumnKind::kStringListList:
        SchemaElement(m, c.name, kOptional, -1, 1, kConvertedList);
        SchemaElement(m, "list", kRepeated, -1, 1, -1);
        SchemaElement(m, "element", kOptional, -1, 1, kConvertedList);
        SchemaElement(m, "list", kRepeated, -1, 1, -1);
        SchemaElement(m, "element", kOptional, kByteArray, -1, kConvertedUtf8);
        break;
    }
  }
  m.I64(3, static_cast<int64_t>(rows.size()));
  m.BeginStructList(4, groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    m.BeginListStruct();
    m.BeginStructList(1, columns.size());
    int64_t total = 0;
    for (size_t c = 0; c < columns.size(); ++c) {
      const ChunkMeta& cm = groups[g][c];
      total += cm.size;
      m.BeginListStruct();
      m.I64(2, cm.offset);  // file_offset
      m.BeginStruct(3);     // ColumnMetaData
      m.I32(1, kByteArray);
      m.I32List(2, {0, 3});
      m.BinaryList(3, LeafPath(columns[c]));
      m.I32(4, 0);  // UNCOMPRESSED
      m.I64(5, cm.num_values);
      m.I64(6, cm.size);
      m.I64(7, cm.size);
      m.I64(9, cm.offset);
      m.EndStruct();
      m.EndStruct();
    }
    m.I64(2, total);
    m.I64(3, group_rows[g]);
    m.EndStruct();
  }
  m.Binary(6, "bagel-data parquet_writer");
  m.End();
  file += m.bytes();
  PutLe32(file, static_cast<uint32_t>(m.bytes().size()));
  file += "PAR1";

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(file.data(), static_cast<std::streamsize>(file.size()));
    if (!out) throw ParquetError(path + ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw ParquetError(path + ": cannot rename");
}

}  // namespace bagel::data::parquet
