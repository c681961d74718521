// Reads one data group's records for one (rank, loader worker) in order, pass after pass, and
// builds them into packer samples (sample_builders.h).
//
// The work of a pass is a list of WorkUnits: normally the group's catalog items this worker owns
// (ShardOf, dataset_catalog.h), each read whole -- a JSONL line, every row of every row group of
// a T2I file, every row of an edit (file, row group) -- and, after a resume at another world
// size, an explicit list (training_data_stream.h). A ReaderCursor (pass, unit, row group, row)
// says where the next record is, so a reader is checkpointed as that cursor and restored
// exactly. Every record's randomness (caption and edit-chain choices) comes from a CounterRng
// seeded by (seed, group, pass, item, row group, row), so a record can be rebuilt from its
// SampleRef alone (the packer's buffer is checkpointed that way).
//
// Bad records never throw: Read() returns them with a skip reason (sample_builders.h) and a
// message naming the file and line / row. A parquet file that cannot be opened, or a row group
// that lacks a column or has a corrupt page, skips its whole unit / row group with one counted
// "unreadable_file"; the input errors of building a record (SkipSample, ParquetError,
// ImageDecodeError, TokenizerError, a JSON type error, c10::ValueError) are skips too, naming the
// file and row, so no bad file stops training. Anything else -- an internal invariant
// (TORCH_INTERNAL_ASSERT), an allocation failure -- is the program's fault and propagates. A
// full pass that gives no usable sample is a c10::Error naming the group: the dataset can yield
// nothing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "worker/data/datasets/dataset_catalog.h"
#include "worker/data/datasets/sample_builders.h"

namespace bagel::data {

namespace parquet {
class ParquetFile;
class ParquetColumn;
}  // namespace parquet

struct WorkUnit {
  int64_t item = 0;       // index into GroupCatalog::items
  int32_t row_group = 0;  // T2I: the row group to start at; edit: ignored (the item's own)
  int64_t row = 0;        // the row to start at
  bool one_row = false;   // only the record at (row_group, row) (a resharded buffer entry)

  nlohmann::json ToJson() const;
  static WorkUnit FromJson(const nlohmann::json& j);
  bool operator==(const WorkUnit&) const = default;
};

struct ReaderCursor {
  int64_t pass = 0;
  int64_t unit = 0;       // index into the pass's units
  int32_t row_group = 0;  // inside the current unit
  int64_t row = 0;
  std::optional<std::vector<WorkUnit>> units;  // explicit units of this pass (resharded)

  nlohmann::json ToJson() const;
  static ReaderCursor FromJson(const nlohmann::json& j);
};

// Where a record is: enough to read and build it again.
struct SampleRef {
  int group = 0;
  int64_t pass = 0;
  int64_t item = 0;
  int32_t row_group = 0;
  int64_t row = 0;

  nlohmann::json ToJson() const;
  static SampleRef FromJson(const nlohmann::json& j);
  bool operator==(const SampleRef&) const = default;
  auto operator<=>(const SampleRef&) const = default;
};

struct ReadResult {
  SampleRef ref;
  std::optional<PreparedSample> sample;  // empty when skipped
  std::string skip_reason;               // a kSkip* name
  std::string message;                   // "file:line: why"
};

// A c10::Error naming the group when a unit's item is not in `catalog` (a restored position from
// a checkpoint whose dataset had other items).
void CheckUnitsFit(const GroupCatalog& catalog, const std::vector<WorkUnit>& units);

class GroupReader {
 public:
  // `standard_units`: the units of every pass that is not explicit (this worker's shard).
  GroupReader(const GroupCatalog& catalog, std::vector<WorkUnit> standard_units,
              BuildContext context, uint64_t seed);
  ~GroupReader();

  // The next record of the current pass (starting the next pass when this one is done).
  ReadResult Read();
  // Reads and builds the record at `ref` again (same sample, same randomness); c10::Error when
  // `ref` (from a checkpoint) names no item of the catalog.
  ReadResult Rebuild(const SampleRef& ref);

  const ReaderCursor& cursor() const { return cursor_; }
  // A restored cursor; c10::Error naming the group when its indices do not fit the catalog.
  void set_cursor(ReaderCursor cursor);
  const GroupCatalog& catalog() const { return catalog_; }
  // "file:line" / "file row group R row K".
  std::string Describe(const SampleRef& ref) const;

 private:
  struct Columns;
  const std::vector<WorkUnit>& Units() const;
  void NextUnit();
  void NextPass();
  ReadResult Build(const SampleRef& ref);
  const Columns& ColumnsOf(int32_t file, int32_t row_group);
  parquet::ParquetFile& File(int32_t file);

  const GroupCatalog& catalog_;
  std::vector<WorkUnit> standard_units_;
  BuildContext context_;
  uint64_t seed_;
  ReaderCursor cursor_;
  bool good_in_pass_ = false;
  std::map<std::string, int64_t> skipped_in_pass_;
  // The parquet files open now, the most recently used last. Reads go unit by unit, so only a
  // couple are kept open (a rank may cycle through thousands of files).
  static constexpr size_t kMaxOpenFiles = 2;
  std::vector<std::pair<int32_t, std::unique_ptr<parquet::ParquetFile>>> files_;
  std::unique_ptr<Columns> columns_;  // the last row group read
  // The last (unit, row group) of this pass whose columns could not be read: the rest of its
  // rows are passed over without reading it again (its first row gave the one counted skip).
  std::optional<std::pair<int64_t, int32_t>> failed_row_group_;
  bool columns_failed_ = false;  // the last Build could not read its row group's columns
};

}  // namespace bagel::data
