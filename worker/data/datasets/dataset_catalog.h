// The items of one data group in the official global order (BAGEL.md §3.1), before sharding:
//
//   vlm_sft / text  JSONL files; an item is a line. num_used_data keeps the first N lines of each
//                   file. Items are sorted as the official (line text, image dir) tuples.
//   t2i             Parquet files (a path may be a directory: its *.parquet files, sorted); an
//                   item is a file. num_used_data repeats each path's files to exactly N.
//   edit            Parquet files as t2i; an item is a (file, row group) pair listed in the
//                   parquet_info JSON ({path: {"num_row_groups": n}}), as the official
//                   ParquetStandardIterableDataset shards them.
//
// Then, as DistributedIterableDataset.set_epoch does: sort, and shuffle with Python's
// random.Random(shuffle_seed) (python_random.h), so each rank gets the files the official code
// would give it. ShardOf cuts the list per rank and loader worker the official way (equal
// slices, remainders left out, each worker's slice reversed).
//
// Errors (TORCH_CHECK, naming the group and path): a missing path, an empty JSONL file or
// directory, an unreadable parquet_info. Individual bad lines or files are not errors here;
// they are skipped while reading (sample_reader.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/job_spec.h"

namespace bagel::data {

enum class GroupKind { kVlm, kText, kT2i, kEdit, kDemo };

// Parses a group type ("vlm_sft", "text", "t2i", "edit", "demo"); throws naming `where`.
GroupKind ParseGroupKind(const std::string& type, const std::string& where);

struct CatalogItem {
  int32_t file = 0;        // index into GroupCatalog::files
  int32_t row_group = -1;  // edit: the item's row group
  int64_t offset = 0;      // JSONL: the line's byte offset and length (newline excluded)
  int64_t length = 0;
  int64_t line = 0;  // JSONL: 1-based line number
};

struct GroupCatalog {
  int index = 0;
  std::string name;
  GroupKind kind = GroupKind::kVlm;
  config::DataGroupSpec spec;
  std::vector<std::string> files;
  std::vector<std::shared_ptr<const std::string>> contents;  // JSONL files' bytes
  std::vector<std::string> image_dirs;                       // JSONL: per file
  std::vector<CatalogItem> items;                            // official global order

  // "file:line" or "file (row group 3)", for logs and errors.
  std::string Describe(const CatalogItem& item) const;
  std::string_view Line(const CatalogItem& item) const;
};

// Builds the catalog of group `index` of the data spec; `log` receives notes (files skipped
// because parquet_info does not list them, ...).
GroupCatalog BuildCatalog(const config::DataGroupSpec& spec, int index,
                          const std::function<void(const std::string&)>& log);

// The global item indices rank `rank` of `world_size` reads with loader worker `worker` of
// `num_workers`. num_workers == 0 means no loader workers (the official num_workers=0): the
// rank's whole slice, not reversed.
std::vector<int64_t> ShardOf(int64_t num_items, int rank, int world_size, int worker,
                             int num_workers);

}  // namespace bagel::data
