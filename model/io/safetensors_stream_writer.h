// Writes a safetensors file tensor by tensor, in bounded memory. The header is written first,
// from the names, dtypes and shapes of every tensor, known before any data exists; the data then
// follows in the order given, through one write buffer, so the caller can produce each tensor
// only when it is written (a gathered unit of a sharded model, say) and drop it afterwards.
//
// Every byte that reaches the file is shown to an optional observer, in order (a running SHA-256:
// the digest is known when the file is, without reading it back); large pieces are observed on
// a second thread while they are being written. The file is written to
// `path`.tmp and renamed into place by Finish(); an unfinished writer removes its .tmp file.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bagel::io {

struct TensorLayout {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;

  int64_t Bytes() const;
};

using ByteObserver = std::function<void(const void* data, size_t size)>;

class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(std::string path, std::vector<TensorLayout> layout,
                          const std::map<std::string, std::string>& metadata = {},
                          ByteObserver observer = {}, size_t buffer_bytes = 16u << 20);
  ~SafetensorsStreamWriter();
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // The next tensor of the layout (any device; its dtype and shape must be the layout's).
  void Write(const std::string& name, const at::Tensor& tensor);
  // Every tensor written: flushes, fsyncs and renames the file into place. Returns its bytes.
  int64_t Finish();

  const std::string& path() const { return path_; }
  // The tensors not written yet.
  size_t remaining() const { return layout_.size() - next_; }

 private:
  void Append(const void* data, size_t size);
  void FlushBuffer();
  void WriteAll(const void* data, size_t size);
  void WriteBytes(const void* data, size_t size);

  std::string path_, tmp_;
  std::vector<TensorLayout> layout_;
  size_t next_ = 0;
  ByteObserver observer_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  int fd_ = -1;
  int64_t written_ = 0;
  int64_t writeback_from_ = 0;  // the first byte whose writeback has not been started
};

}  // namespace bagel::io
