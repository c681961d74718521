// The tensorboard.Event of each kind of record the writer puts in an event file, shaped as
// TensorBoard's own writers shape them so that its readers and plugins take them: the file
// version first, scalars as Summary.Value.simple_value, images as Summary.Value.image, text as
// the text plugin's summary (tensorboard/plugins/text/summary_v2.py: plugin_name "text", a rank-0
// DT_STRING tensor), and SessionLog START. Internal to worker/tensorboard (the public header
// event_file_writer.h keeps protobuf out of its users).
#pragma once

#include <cstdint>
#include <string>

#include "tensorboard/event.pb.h"

namespace bagel::tensorboard {

// "brain.Event:2": version 2 is what makes TensorBoard purge by SessionLog START.
inline constexpr char kFileVersion[] = "brain.Event:2";
inline constexpr char kTextPluginName[] = "text";

::tensorboard::Event FileVersionEvent(double wall_time);
::tensorboard::Event ScalarEvent(const std::string& tag, int64_t step, double value,
                                 double wall_time);
// Throws std::invalid_argument unless height and width are positive and channels is 1-4.
::tensorboard::Event ImageEvent(const std::string& tag, int64_t step, const std::string& png_bytes,
                                int height, int width, int channels, double wall_time);
::tensorboard::Event TextEvent(const std::string& tag, int64_t step, const std::string& text,
                               double wall_time);
::tensorboard::Event SessionStartEvent(int64_t step, double wall_time);

}  // namespace bagel::tensorboard
