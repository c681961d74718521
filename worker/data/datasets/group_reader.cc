#include "worker/data/datasets/group_reader.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <exception>
#include <filesystem>

#include "imaging/image_decode.h"
#include "tokenizer/tokenizer_error.h"
#include "worker/data/parquet/parquet_file.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool IsJsonl(GroupKind k) { return k == GroupKind::kVlm || k == GroupKind::kText; }

}  // namespace

json WorkUnit::ToJson() const { return json::array({item, row_group, row, one_row ? 1 : 0}); }

WorkUnit WorkUnit::FromJson(const json& j) {
  TORCH_CHECK(j.is_array() && j.size() == 4,
              "data state: a work unit must be [item, row_group, "
              "row, one_row], got ",
              j.dump());
  WorkUnit u{j[0].get<int64_t>(), j[1].get<int32_t>(), j[2].get<int64_t>(), j[3].get<int>() != 0};
  TORCH_CHECK(u.item >= 0 && u.row_group >= 0 && u.row >= 0,
              "data state: a work unit with a negative index: ", j.dump());
  return u;
}

json ReaderCursor::ToJson() const {
  json j = {{"pass", pass}, {"unit", unit}, {"row_group", row_group}, {"row", row}};
  if (units) {
    json u = json::array();
    for (const auto& w : *units) u.push_back(w.ToJson());
    j["units"] = std::move(u);
  }
  return j;
}

ReaderCursor ReaderCursor::FromJson(const json& j) {
  TORCH_CHECK(j.is_object() && j.contains("pass") && j.contains("unit"),
              "data state: a reader cursor needs pass and unit, got ", j.dump());
  ReaderCursor c;
  c.pass = j.at("pass").get<int64_t>();
  c.unit = j.at("unit").get<int64_t>();
  c.row_group = j.value("row_group", 0);
  c.row = j.value("row", int64_t{0});
  TORCH_CHECK(c.pass >= 0 && c.unit >= 0 && c.row_group >= 0 && c.row >= 0,
              "data state: a reader cursor with a negative index: ", j.dump());
  if (j.contains("units")) {
    c.units.emplace();
    for (const auto& u : j["units"]) c.units->push_back(WorkUnit::FromJson(u));
  }
  return c;
}

json SampleRef::ToJson() const { return json::array({group, pass, item, row_group, row}); }

SampleRef SampleRef::FromJson(const json& j) {
  TORCH_CHECK(j.is_array() && j.size() == 5,
              "data state: a sample reference must be [group, pass, item, row_group, row], got ",
              j.dump());
  SampleRef r{j[0].get<int>(), j[1].get<int64_t>(), j[2].get<int64_t>(), j[3].get<int32_t>(),
              j[4].get<int64_t>()};
  TORCH_CHECK(r.group >= 0 && r.pass >= 0 && r.item >= 0 && r.row_group >= 0 && r.row >= 0,
              "data state: a sample reference with a negative index: ", j.dump());
  return r;
}

void CheckUnitsFit(const GroupCatalog& catalog, const std::vector<WorkUnit>& units) {
  const int64_t n = static_cast<int64_t>(catalog.items.size());
  for (const WorkUnit& u : units) {
    TORCH_CHECK(u.item >= 0 && u.item < n, "data state: group '", catalog.name,
                "' has a saved position at item ", u.item, " but the group now has ", n,
                " items (the dataset changed since the checkpoint?)");
  }
}

struct GroupReader::Columns {
  int32_t file = -1, row_group = -1;
  parquet::ParquetColumn a, b;
};

GroupReader::GroupReader(const GroupCatalog& catalog, std::vector<WorkUnit> standard_units,
                         BuildContext context, uint64_t seed)
    : catalog_(catalog),
      standard_units_(std::move(standard_units)),
      context_(context),
      seed_(seed) {
  TORCH_CHECK(!standard_units_.empty(), "data group '", catalog_.name,
              "': this loader worker has no items to read");
  cursor_.unit = -1;
  NextUnit();
}

GroupReader::~GroupReader() = default;

const std::vector<WorkUnit>& GroupReader::Units() const {
  return cursor_.units ? *cursor_.units : standard_units_;
}

void GroupReader::set_cursor(ReaderCursor cursor) {
  // The cursor comes from a checkpoint: its indices must fit this catalog and these units.
  if (cursor.units) CheckUnitsFit(catalog_, *cursor.units);
  const size_t units = cursor.units ? cursor.units->size() : standard_units_.size();
  TORCH_CHECK(cursor.pass >= 0 && cursor.unit >= 0 && cursor.unit <= static_cast<int64_t>(units) &&
                  cursor.row_group >= 0 && cursor.row >= 0,
              "data state: group '", catalog_.name, "': a saved reader position (pass ",
              cursor.pass, ", unit ", cursor.unit, ", row group ", cursor.row_group, ", row ",
              cursor.row, ") outside this worker's ", units,
              " units (the dataset changed since the checkpoint?)");
  cursor_ = std::move(cursor);
  failed_row_group_.reset();
  // Only a pass read from its start can prove that the group yields nothing.
  good_in_pass_ = !(cursor_.unit == 0 && cursor_.row == 0);
}

void GroupReader::NextUnit() {
  ++cursor_.unit;
  const auto& units = Units();
  if (cursor_.unit >= static_cast<int64_t>(units.size())) return;
  const WorkUnit& u = units[cursor_.unit];
  cursor_.row_group =
      catalog_.kind == GroupKind::kEdit ? catalog_.items[u.item].row_group : u.row_group;
  cursor_.row = u.row;
}

void GroupReader::NextPass() {
  if (!cursor_.units && !good_in_pass_) {
    std::string why;
    for (const auto& [reason, n] : skipped_in_pass_) {
      why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + reason;
    }
    TORCH_CHECK(false, "data group '", catalog_.name, "' (", catalog_.spec.type,
                "): a full pass over this worker's ", standard_units_.size(),
                " items gave no usable sample (skipped: ", why.empty() ? "none" : why,
                "); check the dataset (docs/DATA.md, bad data)");
  }
  cursor_.pass++;
  failed_row_group_.reset();  // a new pass tries (and counts) every row group again
  cursor_.units.reset();
  cursor_.unit = -1;
  good_in_pass_ = false;
  skipped_in_pass_.clear();
  NextUnit();
}

parquet::ParquetFile& GroupReader::File(int32_t file) {
  for (size_t k = 0; k < files_.size(); ++k) {
    if (files_[k].first != file) continue;
    std::rotate(files_.begin() + k, files_.begin() + k + 1, files_.end());  // most recent last
    return *files_.back().second;
  }
  auto opened = parquet::ParquetFile::Open(catalog_.files.at(file));
  if (files_.size() >= kMaxOpenFiles) files_.erase(files_.begin());  // closes the least recent
  files_.emplace_back(file, std::move(opened));
  return *files_.back().second;
}

const GroupReader::Columns& GroupReader::ColumnsOf(int32_t file, int32_t row_group) {
  if (columns_ && columns_->file == file && columns_->row_group == row_group) return *columns_;
  auto c = std::make_unique<Columns>();
  c->file = file;
  c->row_group = row_group;
  parquet::ParquetFile& f = File(file);
  const bool t2i = catalog_.kind == GroupKind::kT2i;
  c->a = f.ReadColumn(row_group, t2i ? "image" : "image_list");
  c->b = f.ReadColumn(row_group, t2i ? "captions" : "instruction_list");
  columns_ = std::move(c);
  return *columns_;
}

std::string GroupReader::Describe(const SampleRef& ref) const {
  const CatalogItem& item = catalog_.items.at(ref.item);
  const std::string& file = catalog_.files.at(item.file);
  if (IsJsonl(catalog_.kind)) return file + ":" + std::to_string(item.line);
  return file + " row group " + std::to_string(ref.row_group) + " row " + std::to_string(ref.row);
}

ReadResult GroupReader::Read() {
  for (;;) {
    const auto& units = Units();
    if (cursor_.unit >= static_cast<int64_t>(units.size())) {
      NextPass();
      continue;
    }
    const WorkUnit u = units[cursor_.unit];
    SampleRef ref{catalog_.index, cursor_.pass, u.item, cursor_.row_group, cursor_.row};
    if (IsJsonl(catalog_.kind)) {
      ref.row_group = 0;
      ref.row = 0;
      NextUnit();
      return Build(ref);
    }
    const int32_t file = catalog_.items.at(u.item).file;
    parquet::ParquetFile* f = nullptr;
    try {
      f = &File(file);
    } catch (const parquet::ParquetError& e) {
      NextUnit();
      skipped_in_pass_[kSkipUnreadable]++;
      return {ref, std::nullopt, kSkipUnreadable, e.what()};
    }
    if (cursor_.row_group >= f->num_row_groups()) {
      NextUnit();
      continue;
    }
    if (failed_row_group_ == std::make_pair(cursor_.unit, cursor_.row_group)) {
      // Its columns failed on an earlier row (one skip counted): pass over the rest of it.
      if (catalog_.kind == GroupKind::kEdit || u.one_row) {
        NextUnit();
      } else {
        cursor_.row_group++;
        cursor_.row = 0;
      }
      continue;
    }
    if (cursor_.row >= f->row_group_rows(cursor_.row_group)) {
      if (catalog_.kind == GroupKind::kEdit || u.one_row) {
        NextUnit();
      } else {
        cursor_.row_group++;
        cursor_.row = 0;
      }
      continue;
    }
    const std::pair<int64_t, int32_t> at(cursor_.unit, cursor_.row_group);
    if (u.one_row) {
      NextUnit();
    } else {
      cursor_.row++;
    }
    ReadResult result = Build(ref);
    if (columns_failed_) failed_row_group_ = at;
    return result;
  }
}

ReadResult GroupReader::Rebuild(const SampleRef& ref) {
  // The reference comes from a checkpoint: it must name an item of this catalog.
  TORCH_CHECK(ref.item >= 0 && ref.item < static_cast<int64_t>(catalog_.items.size()) &&
                  ref.row_group >= 0 && ref.row >= 0,
              "data state: group '", catalog_.name, "': a saved sample at item ", ref.item,
              " (row group ", ref.row_group, ", row ", ref.row, ") but the group has ",
              catalog_.items.size(), " items (the dataset changed since the checkpoint?)");
  return Build(ref);
}

ReadResult GroupReader::Build(const SampleRef& ref) {
  ReadResult out;
  out.ref = ref;
  columns_failed_ = false;
  CounterRng rng(
      CounterRng::Mix({seed_, static_cast<uint64_t>(ref.group), static_cast<uint64_t>(ref.pass),
                       static_cast<uint64_t>(ref.item), static_cast<uint64_t>(ref.row_group),
                       static_cast<uint64_t>(ref.row)}));
  const CatalogItem& item = catalog_.items.at(ref.item);
  const std::string what = Describe(ref);
  auto skip = [&](const std::string& reason, const std::string& message) {
    out.skip_reason = reason;
    out.message = what + ": " + message;
    skipped_in_pass_[reason]++;
    return out;
  };
  try {
    if (IsJsonl(catalog_.kind)) {
      json record;
      try {
        record = json::parse(catalog_.Line(item));
      } catch (const json::exception& e) {
        return skip(kSkipMalformed, std::string("not a JSON object: ") + e.what());
      }
      if (catalog_.kind == GroupKind::kText && !record.contains("image")) {
        out.sample = BuildTextSample(record, context_);
      } else {
        const std::string& dir = catalog_.image_dirs.at(item.file);
        ImageLoader load = [&](const std::string& name) -> imaging::RgbImage {
          const fs::path p = fs::path(dir) / name;  // an absolute name replaces dir (os.path.join)
          std::error_code ec;
          if (!fs::exists(p, ec)) {
            throw SkipSample(kSkipMissingImage, "image " + p.string() + " does not exist");
          }
          try {
            return imaging::DecodeImageFile(p.string());
          } catch (const imaging::ImageDecodeError& e) {
            throw SkipSample(kSkipBadImage, e.what());
          }
        };
        out.sample = BuildVlmSample(record, load, context_);
      }
    } else {
      const Columns* columns = nullptr;
      try {
        columns = &ColumnsOf(item.file, ref.row_group);
      } catch (...) {
        columns_failed_ = true;
        throw;
      }
      const Columns& c = *columns;
      const size_t row = static_cast<size_t>(ref.row);
      if (catalog_.kind == GroupKind::kT2i) {
        out.sample = BuildT2iSample(c.a.Scalar(row), c.b.Scalar(row), what, rng, context_);
      } else {
        out.sample = BuildEditSample(c.a.List(row), c.b.ListOfLists(row), what, rng, context_);
      }
    }
  } catch (const SkipSample& e) {
    return skip(e.reason(), e.what());
  } catch (const parquet::ParquetError& e) {
    return skip(kSkipUnreadable, e.what());
  } catch (const imaging::ImageDecodeError& e) {
    return skip(kSkipBadImage, e.what());
  } catch (const tokenizer::TokenizerError& e) {
    return skip(kSkipMalformed, e.what());
  } catch (const nlohmann::json::exception& e) {
    // A record of the wrong shape (a field of another JSON type): the input's fault.
    return skip(kSkipMalformed, std::string("malformed record: ") + e.what());
  } catch (const c10::ValueError& e) {
    return skip(kSkipMalformed, e.what_without_backtrace());
  }
  // Nothing else is caught: a c10::Error from an internal invariant (TORCH_INTERNAL_ASSERT), an
  // out-of-memory or any other failure is the program's, not the record's, and ends the attempt
  // (docs/ARCHITECTURE.md, "Errors").
  good_in_pass_ = true;
  return out;
}

}  // namespace bagel::data
