#include "model/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace bagel::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"BF16", at::kBFloat16}, {"F16", at::kHalf},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort},     {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

int64_t SafetensorsEntry::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

at::ScalarType ParseSafetensorsDtype(const std::string& name, const std::string& context) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  TORCH_CHECK(false, context, ": unsupported dtype '", name,
              "' (expected one of F64, F32, BF16, F16, I64, I32, I16, I8, U8, BOOL)");
}

std::string SafetensorsDtypeName(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.name;
  }
  TORCH_CHECK(false, "safetensors cannot store dtype ", c10::toString(type));
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->self_ = file;
  file->path_ = path;
  file->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(file->fd_ >= 0, path, ": cannot open: ", ErrnoText());
  struct stat st {};
  TORCH_CHECK(::fstat(file->fd_, &st) == 0, path, ": cannot stat: ", ErrnoText());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  TORCH_CHECK(size >= 8, path, ": not a safetensors file (", size,
              " bytes, shorter than its header length)");
  file->map_size_ = size;
  file->map_ = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file->fd_, 0);
  TORCH_CHECK(file->map_ != MAP_FAILED, path, ": cannot map: ", ErrnoText());
  ::madvise(file->map_, size, MADV_SEQUENTIAL);
  file->Parse(static_cast<const uint8_t*>(file->map_), size);
  return file;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::FromBytes(const std::string& name,
                                                            at::Tensor bytes) {
  TORCH_CHECK(bytes.scalar_type() == at::kByte && bytes.dim() == 1 && bytes.is_contiguous() &&
                  bytes.device().is_cpu(),
              name, ": safetensors bytes must be a contiguous CPU uint8 vector");
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->self_ = file;
  file->path_ = name;
  const uint64_t size = static_cast<uint64_t>(bytes.numel());
  TORCH_CHECK(size >= 8, name, ": not a safetensors file (", size,
              " bytes, shorter than its header length)");
  file->owned_ = std::move(bytes);
  file->Parse(file->owned_.const_data_ptr<uint8_t>(), size);
  return file;
}

void SafetensorsFile::Parse(const uint8_t* bytes, uint64_t size) {
  const std::string& path = path_;
  SafetensorsFile* file = this;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  TORCH_CHECK(header_len <= kMaxHeaderBytes && header_len <= size - 8, path, ": header length ",
              header_len, " does not fit the file (", size, " bytes)");
  file->data_ = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes + 8),
                                   reinterpret_cast<const char*>(bytes + 8 + header_len));
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path, ": header is not valid JSON: ", e.what());
  }
  TORCH_CHECK(header.is_object(), path, ": header is not a JSON object");

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      TORCH_CHECK(it->is_object(), path, ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        TORCH_CHECK(m->is_string(), path, ": __metadata__['", m.key(), "'] is not a string");
        file->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string ctx = path + ": tensor '" + name + "'";
    const auto& info = *it;
    TORCH_CHECK(info.is_object() && info.contains("dtype") && info.contains("shape") &&
                    info.contains("data_offsets"),
                ctx, ": entry needs dtype, shape and data_offsets");
    SafetensorsEntry entry;
    entry.name = name;
    TORCH_CHECK(info["dtype"].is_string(), ctx, ": dtype is not a string");
    entry.dtype = ParseSafetensorsDtype(info["dtype"].get<std::string>(), ctx);
    TORCH_CHECK(info["shape"].is_array(), ctx, ": shape is not an array");
    for (const auto& d : info["shape"]) {
      TORCH_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, ctx, ": bad shape ",
                  info["shape"].dump());
      entry.shape.push_back(d.get<int64_t>());
    }
    const auto& offsets = info["data_offsets"];
    TORCH_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                    offsets[1].is_number_unsigned(),
                ctx, ": data_offsets must be two non-negative integers");
    entry.begin = offsets[0].get<uint64_t>();
    entry.end = offsets[1].get<uint64_t>();
    TORCH_CHECK(entry.begin <= entry.end && entry.end <= data_size, ctx, ": data_offsets [",
                entry.begin, ", ", entry.end, ") outside the data section (", data_size, " bytes)");
    const uint64_t expected =
        static_cast<uint64_t>(entry.NumElements()) * c10::elementSize(entry.dtype);
    TORCH_CHECK(entry.end - entry.begin == expected, ctx, ": holds ", entry.end - entry.begin,
                " bytes but dtype and shape need ", expected);
    ranges.emplace_back(entry.begin, entry.end);
    file->entries_.emplace(name, std::move(entry));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    TORCH_CHECK(ranges[i].first >= ranges[i - 1].second, path, ": tensor data ranges overlap");
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ && map_ != MAP_FAILED) ::munmap(map_, map_size_);
  if (fd_ >= 0) ::close(fd_);
}

const SafetensorsEntry& SafetensorsFile::Entry(const std::string& name) const {
  auto it = entries_.find(name);
  TORCH_CHECK(it != entries_.end(), path_, ": no tensor named '", name, "'");
  return it->second;
}

at::Tensor SafetensorsFile::View(const std::string& name) const {
  const SafetensorsEntry& e = Entry(name);
  auto keep_alive = self_.lock();
  TORCH_INTERNAL_ASSERT(keep_alive, "SafetensorsFile must be owned by a shared_ptr");
  void* ptr = const_cast<uint8_t*>(data_ + e.begin);
  const size_t align = c10::elementSize(e.dtype);
  if (reinterpret_cast<uintptr_t>(ptr) % align != 0) {
    // Misaligned data (a header length that is not a multiple of 8): copy to aligned memory.
    at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    std::memcpy(out.data_ptr(), ptr, e.end - e.begin);
    return out;
  }
  return at::from_blob(
      ptr, e.shape, [keep_alive](void*) mutable { keep_alive.reset(); },
      at::TensorOptions().dtype(e.dtype));
}

at::Tensor SafetensorsFile::Read(const std::string& name, at::ScalarType dtype) const {
  at::Tensor view = View(name);
  if (dtype == at::ScalarType::Undefined || dtype == view.scalar_type()) return view.clone();
  return view.to(dtype);
}

std::map<std::string, at::Tensor> SafetensorsFile::ReadAll() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, entry] : entries_) out.emplace(name, Read(name));
  return out;
}

namespace {

void WriteFileAtomically(const std::string& path, const std::string& header,
                         const std::vector<at::Tensor>& payload) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out, tmp, ": cannot open for writing");
    uint64_t n = header.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : payload) {
      out.write(static_cast<const char*>(t.const_data_ptr()),
                static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    out.flush();
    TORCH_CHECK(out.good(), tmp, ": write failed (disk full?)");
  }
  TORCH_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename ", tmp, ": ",
              ErrnoText());
}

std::string PaddedHeader(nlohmann::json header) {
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  return text;
}

}  // namespace

void WriteSafetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> payload;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    TORCH_CHECK(tensor.defined(), path, ": tensor '", name, "' is undefined");
    TORCH_CHECK(name != "__metadata__", path, ": '__metadata__' is not a tensor name");
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", SafetensorsDtypeName(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    payload.push_back(std::move(t));
  }
  WriteFileAtomically(path, PaddedHeader(std::move(header)), payload);
}

void WriteSparseSafetensorsForTest(
    const std::string& path,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& entries,
    at::ScalarType dtype) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  const uint64_t elem = c10::elementSize(dtype);
  for (const auto& [name, shape] : entries) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    header[name] = {{"dtype", SafetensorsDtypeName(dtype)},
                    {"shape", shape},
                    {"data_offsets", {offset, offset + n * elem}}};
    offset += n * elem;
  }
  const std::string text = PaddedHeader(std::move(header));
  WriteFileAtomically(path, text, {});
  // Extend with a hole: the file claims `offset` data bytes without storing them.
  TORCH_CHECK(::truncate(path.c_str(), static_cast<off_t>(8 + text.size() + offset)) == 0, path,
              ": cannot extend: ", ErrnoText());
}

}  // namespace bagel::io
