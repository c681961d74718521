// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian tensor bytes.
//
// SafetensorsFile maps the file read-only (mmap), so opening a 29 GB checkpoint costs nothing
// until tensors are read, and checking its keys and shapes never touches the data. Every error
// names the file and, where there is one, the tensor.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bagel::io {

// One tensor entry of a safetensors header.
struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets within the data section
  uint64_t end = 0;

  int64_t NumElements() const;
};

// Maps a safetensors dtype string ("F32", "BF16", ...) to an ATen type; throws on unknown names.
at::ScalarType ParseSafetensorsDtype(const std::string& name, const std::string& context);
// The safetensors dtype string of an ATen type; throws for types the format cannot hold.
std::string SafetensorsDtypeName(at::ScalarType type);

class SafetensorsFile {
 public:
  // Maps `path` and validates its header: JSON syntax, known dtypes, shapes matching byte
  // ranges, ranges inside the file and not overlapping. Throws c10::Error naming the problem.
  static std::shared_ptr<SafetensorsFile> Open(const std::string& path);
  // The same over a file's bytes already in memory (a contiguous CPU uint8 vector, kept alive
  // by the returned object and every view of it); `name` names it in errors.
  static std::shared_ptr<SafetensorsFile> FromBytes(const std::string& name, at::Tensor bytes);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Entries sorted by name.
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  bool Contains(const std::string& name) const { return entries_.count(name) > 0; }
  const SafetensorsEntry& Entry(const std::string& name) const;

  // A CPU tensor viewing the mapped bytes (no copy); it keeps the mapping alive. Read-only
  // memory: copy (or .to()) before writing to it.
  at::Tensor View(const std::string& name) const;
  // A fresh CPU tensor holding the data converted to `dtype` (or the stored dtype when Undefined).
  at::Tensor Read(const std::string& name, at::ScalarType dtype = at::ScalarType::Undefined) const;
  // Every tensor, read as stored.
  std::map<std::string, at::Tensor> ReadAll() const;

 private:
  SafetensorsFile() = default;
  void Parse(const uint8_t* bytes, uint64_t size);
  std::string path_;
  at::Tensor owned_;  // FromBytes: the bytes
  int fd_ = -1;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::map<std::string, std::string> metadata_;
  std::map<std::string, SafetensorsEntry> entries_;
  std::weak_ptr<SafetensorsFile> self_;
};

// Writes `tensors` (any device, contiguous or not) to `path` in name order. The file is written
// to `path`.tmp and renamed into place, so a crash never leaves a truncated file behind.
void WriteSafetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Writes only a header (no data) describing `entries`, followed by a sparse hole of the right
// size: a file that Open() accepts without the bytes existing on disk. For schema tests.
void WriteSparseSafetensorsForTest(
    const std::string& path,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& entries, at::ScalarType dtype);

}  // namespace bagel::io
