// Writes a TensorBoard event file: scalars, PNG images, text and session starts, readable by
// TensorBoard (and its EventAccumulator) while they are written. Each writer creates its own file,
// events.out.tfevents.<unix seconds>.<hostname>.<pid>.<counter> (event_file_name.h), in
// `log_dir` (created if needed); TensorBoard shows a directory's files as one run. The file
// starts with the file-version event; every event is one TFRecord (tfrecord.h) handed to the
// file whole (record_file.h): buffered, and written once 256 KiB are buffered, with the first
// event 2 s or more after the last write, on Flush() (with fsync) and at destruction, so a killed
// writer leaves at most one partial record at the tail.
//
// Restarts: call AddSessionStart(step) whenever a job starts writing, its first start included,
// with the first step it will write (a job resumed from the checkpoint of step S: S + 1).
// TensorBoard then drops what it read at steps >= step, the steps the restart recomputes.
// Checked in TensorBoard 2.21: EventAccumulator purges on every START; the server's Python loader
// (plugin_event_accumulator) on every START after a run's first, which it takes as the initial
// one; the Rust data server (--load_fast) ignores SessionLog and drops, per tag, the points at
// steps >= a step that comes again, which the recomputed steps do anyway.
//
// Free of protobuf and LibTorch in this header (the generated code stays in the .cc). Errors:
// std::system_error naming the file for I/O, std::invalid_argument for a bad image size.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace bagel::tensorboard {

// Seconds since the Unix epoch, with sub-second precision: an event's wall_time.
double UnixTimeNow();

class EventFileWriter {
 public:
  explicit EventFileWriter(const std::string& log_dir);
  // Writes what is buffered, fsyncs and closes; errors are dropped (call Flush() to see them).
  ~EventFileWriter();
  EventFileWriter(EventFileWriter&&) noexcept;
  EventFileWriter& operator=(EventFileWriter&&) noexcept;
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // A scalar point (TensorBoard keeps it as float32).
  void AddScalar(const std::string& tag, int64_t step, double value,
                 double wall_time = UnixTimeNow());
  // An encoded image: the PNG file's bytes, stored as they are, and its size; channels (1 grey,
  // 2 grey + alpha, 3 RGB, 4 RGBA) is TensorBoard's colorspace.
  void AddImage(const std::string& tag, int64_t step, const std::string& png_bytes, int height,
                int width, int channels, double wall_time = UnixTimeNow());
  // Text (Markdown) for TensorBoard's text plugin.
  void AddText(const std::string& tag, int64_t step, const std::string& text,
               double wall_time = UnixTimeNow());
  // SessionLog START at `step`: see "Restarts" above.
  void AddSessionStart(int64_t step, double wall_time = UnixTimeNow());

  // Writes what is buffered and fsyncs the file.
  void Flush();

  // The event file this writer writes.
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bagel::tensorboard
