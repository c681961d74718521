#include "worker/tensorboard/record_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace bagel::tensorboard {
namespace {

// Takes errno first: building the message may allocate, which may change errno.
std::system_error FileError(int error, const std::string& what, const std::string& path) {
  return std::system_error(error, std::generic_category(), what + " " + path);
}

}  // namespace

RecordFile::RecordFile(const std::string& path)
    : path_(path), last_write_(std::chrono::steady_clock::now()) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw FileError(errno, "cannot create event file", path);
  }
}

RecordFile::~RecordFile() {
  try {
    Flush();
  } catch (const std::system_error&) {
    // A destructor cannot report; callers that must know call Flush() first.
  }
  ::close(fd_);
}

void RecordFile::Append(std::string_view record) {
  buffer_.append(record);
  if (buffer_.size() >= kWriteBytes ||
      std::chrono::steady_clock::now() - last_write_ >= kWriteInterval) {
    WriteBuffered();
  }
}

void RecordFile::Flush() {
  WriteBuffered();
  if (::fsync(fd_) != 0) {
    throw FileError(errno, "cannot fsync event file", path_);
  }
}

void RecordFile::WriteBuffered() {
  size_t written = 0;
  while (written < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int error = errno;
      buffer_.erase(0, written);
      throw FileError(error, "cannot write event file", path_);
    }
    written += static_cast<size_t>(n);
  }
  buffer_.clear();
  last_write_ = std::chrono::steady_clock::now();
}

}  // namespace bagel::tensorboard
