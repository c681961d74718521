#include "model/io/safetensors_stream_writer.h"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>

#include "model/io/safetensors.h"

namespace bagel::io {

int64_t TensorLayout::Bytes() const {
  int64_t n = static_cast<int64_t>(c10::elementSize(dtype));
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsStreamWriter::SafetensorsStreamWriter(std::string path, std::vector<TensorLayout> layout,
                                                 const std::map<std::string, std::string>& metadata,
                                                 ByteObserver observer, size_t buffer_bytes)
    : path_(std::move(path)),
      tmp_(path_ + ".tmp"),
      layout_(std::move(layout)),
      observer_(std::move(observer)),
      buffer_(std::max<size_t>(buffer_bytes, 4096)) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorLayout& t : layout_) {
    TORCH_CHECK(t.name != "__metadata__" && !header.contains(t.name), path_, ": tensor name '",
                t.name, "' is reserved or given twice");
    const uint64_t bytes = static_cast<uint64_t>(t.Bytes());
    header[t.name] = {{"dtype", SafetensorsDtypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // The data section starts 8-byte aligned, as the reference writer pads it.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TORCH_CHECK(fd_ >= 0, tmp_, ": cannot open for writing: ", std::strerror(errno));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((text.size() >> (8 * i)) & 0xff);
  Append(len, 8);
  Append(text.data(), text.size());
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (fd_ < 0) return;
  ::close(fd_);
  std::remove(tmp_.c_str());
}

void SafetensorsStreamWriter::Write(const std::string& name, const at::Tensor& tensor) {
  TORCH_CHECK(fd_ >= 0, path_, ": written after Finish");
  TORCH_CHECK(next_ < layout_.size(), path_, ": tensor '", name, "' is beyond the layout");
  const TensorLayout& want = layout_[next_];
  TORCH_CHECK(name == want.name, path_, ": tensor '", name, "' written where the layout has '",
              want.name, "'");
  TORCH_CHECK(tensor.scalar_type() == want.dtype && tensor.sizes().vec() == want.shape, path_,
              ": tensor '", name, "' is ", c10::toString(tensor.scalar_type()), tensor.sizes(),
              ", the layout says ", c10::toString(want.dtype), at::IntArrayRef(want.shape));
  const at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  Append(t.const_data_ptr(), static_cast<size_t>(want.Bytes()));
  ++next_;
}

int64_t SafetensorsStreamWriter::Finish() {
  TORCH_CHECK(fd_ >= 0, path_, ": finished twice");
  TORCH_CHECK(next_ == layout_.size(), path_, ": finished with ", remaining(),
              " tensors not written (the next is '", layout_[next_].name, "')");
  FlushBuffer();
  TORCH_CHECK(::fsync(fd_) == 0, tmp_, ": fsync failed: ", std::strerror(errno));
  TORCH_CHECK(::close(fd_) == 0, tmp_, ": close failed: ", std::strerror(errno));
  fd_ = -1;
  TORCH_CHECK(std::rename(tmp_.c_str(), path_.c_str()) == 0, path_, ": cannot rename ", tmp_, ": ",
              std::strerror(errno));
  return written_;
}

void SafetensorsStreamWriter::Append(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  // Large pieces skip the buffer: written straight from the tensor's memory.
  if (size >= buffer_.size()) {
    FlushBuffer();
    WriteAll(p, size);
    return;
  }
  if (used_ + size > buffer_.size()) FlushBuffer();
  std::memcpy(buffer_.data() + used_, p, size);
  used_ += size;
}

void SafetensorsStreamWriter::FlushBuffer() {
  if (used_ == 0) return;
  WriteAll(buffer_.data(), used_);
  used_ = 0;
}

void SafetensorsStreamWriter::WriteAll(const void* data, size_t size) {
  // The observer (a hash) runs beside the write: the file takes the slower of the two, not
  // their sum. Calls stay in order: each is joined before the next begins.
  std::future<void> observed;
  if (observer_ && size >= (1u << 20)) {
    observed = std::async(std::launch::async, [&] { observer_(data, size); });
  } else if (observer_) {
    observer_(data, size);
  }
  try {
    WriteBytes(data, size);
  } catch (...) {
    if (observed.valid()) observed.wait();
    throw;
  }
  if (observed.valid()) observed.get();
}

void SafetensorsStreamWriter::WriteBytes(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, std::min<size_t>(size, 1u << 30));
    if (n < 0 && errno == EINTR) continue;
    TORCH_CHECK(n > 0, tmp_, ": write failed (disk full?): ", std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
    written_ += n;
  }
  // Start the disk's writeback of every full 64 MiB behind us without waiting for it, so the
  // device writes while the next bytes are produced and the final fsync has little left to do
  // (a file written to the page cache alone is written back only at that fsync).
  constexpr int64_t kWritebackChunk = int64_t{64} << 20;
  if (written_ - writeback_from_ >= kWritebackChunk) {
    ::sync_file_range(fd_, writeback_from_, written_ - writeback_from_, SYNC_FILE_RANGE_WRITE);
    writeback_from_ = written_;
  }
}

}  // namespace bagel::io
