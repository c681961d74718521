#include "worker/data/datasets/dataset_catalog.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "worker/data/sharding/python_random.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;

std::string Where(const config::DataGroupSpec& spec, int index) {
  return "data.groups[" + std::to_string(index) + "] (" + spec.name + ")";
}

// A path's files with `extension`: the file itself, or a directory's matching files, sorted.
std::vector<std::string> FilesOf(const std::string& path, const std::string& extension,
                                 const std::string& where) {
  std::error_code ec;
  TORCH_CHECK(fs::exists(path, ec), where, ": path ", path, " does not exist");
  if (!fs::is_directory(path, ec)) return {path};
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_regular_file() && e.path().extension() == extension)
      files.push_back(e.path().string());
  }
  TORCH_CHECK(!ec, where, ": cannot list ", path, ": ", ec.message());
  std::sort(files.begin(), files.end());
  TORCH_CHECK(!files.empty(), where, ": directory ", path, " holds no *", extension, " file");
  return files;
}

std::shared_ptr<const std::string> ReadWhole(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, where, ": cannot open ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::make_shared<const std::string>(ss.str());
}

void AddJsonl(GroupCatalog& c, const std::string& where) {
  for (const std::string& path : c.spec.paths) {
    for (const std::string& file : FilesOf(path, ".jsonl", where)) {
      const int32_t f = static_cast<int32_t>(c.files.size());
      c.files.push_back(file);
      c.contents.push_back(ReadWhole(file, where));
      c.image_dirs.push_back(!c.spec.image_root.empty() ? c.spec.image_root
                                                        : fs::path(file).parent_path().string());
      const std::string& text = *c.contents.back();
      int64_t used = 0;
      const int64_t limit = c.spec.num_used_data.value_or(INT64_MAX);
      size_t pos = 0;
      int64_t line = 0;
      while (pos < text.size() && used < limit) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        ++line;
        c.items.push_back(
            {f, -1, static_cast<int64_t>(pos), static_cast<int64_t>(end - pos), line});
        ++used;
        pos = end + 1;
      }
      TORCH_CHECK(used > 0, where, ": ", file, " has no lines");
    }
  }
  // sorted((line, image_dir)) with Python's readlines() lines, which keep their newline: a line
  // and a longer line it prefixes compare through the newline character.
  auto key = [&](const CatalogItem& it) {
    const std::string& t = *c.contents[it.file];
    const bool has_newline = it.offset + it.length < static_cast<int64_t>(t.size());
    return std::string_view(t.data() + it.offset, it.length + (has_newline ? 1 : 0));
  };
  std::stable_sort(c.items.begin(), c.items.end(), [&](const CatalogItem& a, const CatalogItem& b) {
    const auto ka = key(a), kb = key(b);
    if (ka != kb) return ka < kb;
    return c.image_dirs[a.file] < c.image_dirs[b.file];
  });
}

// get_parquet_data_paths for one path: its files repeated to num_used_data.
std::vector<std::string> UsedParquetFiles(const config::DataGroupSpec& spec,
                                          const std::string& path, const std::string& where) {
  std::vector<std::string> files = FilesOf(path, ".parquet", where);
  if (!spec.num_used_data) return files;
  const size_t n = static_cast<size_t>(*spec.num_used_data);
  std::vector<std::string> out;
  while (out.size() < n) {
    for (const auto& f : files) {
      if (out.size() == n) break;
      out.push_back(f);
    }
  }
  return out;
}

void AddParquet(GroupCatalog& c, const std::string& where,
                const std::function<void(const std::string&)>& log) {
  std::vector<std::string> used;
  for (const std::string& path : c.spec.paths) {
    for (auto& f : UsedParquetFiles(c.spec, path, where)) used.push_back(std::move(f));
  }
  std::map<std::string, int32_t> index;
  auto file_index = [&](const std::string& f) {
    auto [it, added] = index.emplace(f, static_cast<int32_t>(c.files.size()));
    if (added) c.files.push_back(f);
    return it->second;
  };
  if (c.kind == GroupKind::kT2i) {
    std::sort(used.begin(), used.end());
    for (const auto& f : used) c.items.push_back({file_index(f), -1});
    return;
  }
  // edit: (file, row group) pairs from parquet_info.
  TORCH_CHECK(!c.spec.parquet_info.empty(), where, ": an edit group needs parquet_info");
  nlohmann::json info;
  try {
    std::ifstream in(c.spec.parquet_info);
    TORCH_CHECK(in, where, ": cannot open parquet_info ", c.spec.parquet_info);
    info = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, where, ": parquet_info ", c.spec.parquet_info,
                " is not valid JSON: ", e.what());
  }
  TORCH_CHECK(info.is_object(), where, ": parquet_info must map paths to {num_row_groups}");
  auto lookup = [&](const std::string& f) -> const nlohmann::json* {
    if (info.contains(f)) return &info[f];
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(f, ec);
    for (auto it = info.begin(); it != info.end(); ++it) {
      std::error_code ec2;
      if (fs::weakly_canonical(it.key(), ec2) == canonical) return &it.value();
    }
    return nullptr;
  };
  std::vector<std::pair<std::string, int32_t>> pairs;
  for (const auto& f : used) {
    const nlohmann::json* e = lookup(f);
    if (e == nullptr) {
      log(where + ": " + f + " is not listed in parquet_info " + c.spec.parquet_info +
          "; skipped (as the official loader does)");
      continue;
    }
    TORCH_CHECK(e->is_object() && e->contains("num_row_groups") &&
                    (*e)["num_row_groups"].is_number_integer(),
                where, ": parquet_info entry for ", f, " needs an integer num_row_groups");
    const int64_t n = (*e)["num_row_groups"].get<int64_t>();
    for (int64_t rg = 0; rg < n; ++rg) pairs.emplace_back(f, static_cast<int32_t>(rg));
  }
  std::sort(pairs.begin(), pairs.end());
  for (const auto& [f, rg] : pairs) c.items.push_back({file_index(f), rg});
}

}  // namespace

GroupKind ParseGroupKind(const std::string& type, const std::string& where) {
  if (type == "vlm_sft") return GroupKind::kVlm;
  if (type == "text") return GroupKind::kText;
  if (type == "t2i") return GroupKind::kT2i;
  if (type == "edit") return GroupKind::kEdit;
  if (type == "demo") return GroupKind::kDemo;
  TORCH_CHECK(false, where, ".type '", type, "': expected vlm_sft, t2i, edit, text or demo");
}

std::string GroupCatalog::Describe(const CatalogItem& item) const {
  const std::string& f = files.at(item.file);
  if (kind == GroupKind::kVlm || kind == GroupKind::kText)
    return f + ":" + std::to_string(item.line);
  if (item.row_group >= 0) return f + " (row group " + std::to_string(item.row_group) + ")";
  return f;
}

std::string_view GroupCatalog::Line(const CatalogItem& item) const {
  return std::string_view(*contents.at(item.file)).substr(item.offset, item.length);
}

GroupCatalog BuildCatalog(const config::DataGroupSpec& spec, int index,
                          const std::function<void(const std::string&)>& log) {
  const std::string where = Where(spec, index);
  GroupCatalog c;
  c.index = index;
  c.name = spec.name;
  c.spec = spec;
  c.kind = ParseGroupKind(spec.type, "data.groups[" + std::to_string(index) + "]");
  TORCH_CHECK(c.kind == GroupKind::kDemo || !spec.paths.empty(), where, ".paths: required");
  switch (c.kind) {
    case GroupKind::kVlm:
    case GroupKind::kText:
      AddJsonl(c, where);
      break;
    case GroupKind::kT2i:
    case GroupKind::kEdit:
      AddParquet(c, where, log);
      break;
    case GroupKind::kDemo:
      return c;
  }
  TORCH_CHECK(!c.items.empty(), where, ": no items (empty files, or no parquet_info entries)");
  PythonRandom rng(spec.shuffle_seed);
  rng.Shuffle(c.items);
  return c;
}

std::vector<int64_t> ShardOf(int64_t num_items, int rank, int world_size, int worker,
                             int num_workers) {
  const int64_t per_rank = num_items / world_size;
  const int64_t rank_begin = rank * per_rank;
  if (num_workers == 0) {
    std::vector<int64_t> out(per_rank);
    for (int64_t k = 0; k < per_rank; ++k) out[k] = rank_begin + k;
    return out;
  }
  const int64_t per_worker = per_rank / num_workers;
  std::vector<int64_t> out(per_worker);
  const int64_t begin = rank_begin + worker * per_worker;
  for (int64_t k = 0; k < per_worker; ++k) out[k] = begin + per_worker - 1 - k;  // reversed
  return out;
}

}  // namespace bagel::data
