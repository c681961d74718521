#include "worker/tensorboard/event_file_writer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <system_error>

#include "worker/tensorboard/event_file_name.h"
#include "worker/tensorboard/record_file.h"
#include "worker/tensorboard/summary_events.h"
#include "worker/tensorboard/tfrecord.h"

namespace bagel::tensorboard {
namespace {

// Numbers the writers of this process, so two created in the same second get two files.
std::atomic<uint64_t> next_file_counter{0};

// A new file in log_dir; the counter moves on past names that exist already.
std::unique_ptr<RecordFile> CreateEventFile(const std::string& log_dir, double wall_time) {
  std::filesystem::create_directories(log_dir);
  const std::string host = HostNameForEventFile();
  const auto seconds = static_cast<int64_t>(std::floor(wall_time));
  for (;;) {
    const std::string name = EventFileName(seconds, host, ::getpid(), next_file_counter++);
    try {
      return std::make_unique<RecordFile>((std::filesystem::path(log_dir) / name).string());
    } catch (const std::system_error& error) {
      if (error.code() != std::errc::file_exists) {
        throw;
      }
    }
  }
}

}  // namespace

double UnixTimeNow() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(now).count();
}

struct EventFileWriter::Impl {
  std::mutex mutex;
  std::unique_ptr<RecordFile> file;

  void Write(const ::tensorboard::Event& event) {
    const std::string record = FrameRecord(event.SerializeAsString());
    std::lock_guard lock(mutex);
    file->Append(record);
  }
};

EventFileWriter::EventFileWriter(const std::string& log_dir) : impl_(std::make_unique<Impl>()) {
  const double now = UnixTimeNow();
  impl_->file = CreateEventFile(log_dir, now);
  impl_->Write(FileVersionEvent(now));
  // On disk at once, so the file is a valid event file from its creation.
  impl_->file->Flush();
}

EventFileWriter::~EventFileWriter() = default;
EventFileWriter::EventFileWriter(EventFileWriter&&) noexcept = default;
EventFileWriter& EventFileWriter::operator=(EventFileWriter&&) noexcept = default;

void EventFileWriter::AddScalar(const std::string& tag, int64_t step, double value,
                                double wall_time) {
  impl_->Write(ScalarEvent(tag, step, value, wall_time));
}

void EventFileWriter::AddImage(const std::string& tag, int64_t step, const std::string& png_bytes,
                               int height, int width, int channels, double wall_time) {
  impl_->Write(ImageEvent(tag, step, png_bytes, height, width, channels, wall_time));
}

void EventFileWriter::AddText(const std::string& tag, int64_t step, const std::string& text,
                              double wall_time) {
  impl_->Write(TextEvent(tag, step, text, wall_time));
}

void EventFileWriter::AddSessionStart(int64_t step, double wall_time) {
  impl_->Write(SessionStartEvent(step, wall_time));
}

void EventFileWriter::Flush() {
  std::lock_guard lock(impl_->mutex);
  impl_->file->Flush();
}

const std::string& EventFileWriter::path() const { return impl_->file->path(); }

}  // namespace bagel::tensorboard
