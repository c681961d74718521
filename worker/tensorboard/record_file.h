// An append-only file of whole records (event files). Records are buffered and handed to the
// kernel whole, a batch of them per write(), so a writer killed at any moment leaves at most one
// partial record, at the file's tail, where TensorBoard's readers stop and keep everything before
// it. The buffer goes to the file when it holds kWriteBytes, at the first Append after
// kWriteInterval since the last write (so TensorBoard sees new points within seconds without a
// Flush), on Flush() (which also fsyncs) and on destruction. Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace bagel::tensorboard {

class RecordFile {
 public:
  static constexpr size_t kWriteBytes = 256 * 1024;
  static constexpr std::chrono::seconds kWriteInterval{2};

  // Creates `path` (never an existing file: std::system_error with std::errc::file_exists then;
  // another code for any other failure, naming the path).
  explicit RecordFile(const std::string& path);
  // Writes what is buffered, fsyncs and closes; errors are dropped here (Flush reports them).
  ~RecordFile();
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  // Appends one whole framed record. Throws std::system_error naming the file when a write fails;
  // what was not written stays buffered for the next try.
  void Append(std::string_view record);
  // Writes what is buffered and fsyncs the file; throws std::system_error naming the file.
  void Flush();

  const std::string& path() const { return path_; }

 private:
  void WriteBuffered();

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  std::chrono::steady_clock::time_point last_write_;
};

}  // namespace bagel::tensorboard
