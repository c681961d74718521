#include "worker/tensorboard/summary_events.h"

#include <stdexcept>

namespace bagel::tensorboard {
namespace {

namespace pb = ::tensorboard;

pb::Event EventAt(int64_t step, double wall_time) {
  pb::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  return event;
}

pb::Summary::Value* AddValue(pb::Event& event, const std::string& tag) {
  pb::Summary::Value* value = event.mutable_summary()->add_value();
  value->set_tag(tag);
  return value;
}

}  // namespace

pb::Event FileVersionEvent(double wall_time) {
  pb::Event event = EventAt(0, wall_time);
  event.set_file_version(kFileVersion);
  return event;
}

pb::Event ScalarEvent(const std::string& tag, int64_t step, double value, double wall_time) {
  pb::Event event = EventAt(step, wall_time);
  // simple_value is a float: TensorBoard keeps scalars in float32 anyway.
  AddValue(event, tag)->set_simple_value(static_cast<float>(value));
  return event;
}

pb::Event ImageEvent(const std::string& tag, int64_t step, const std::string& png_bytes, int height,
                     int width, int channels, double wall_time) {
  if (height <= 0 || width <= 0 || channels < 1 || channels > 4) {
    throw std::invalid_argument("tensorboard image " + tag + ": bad size " +
                                std::to_string(height) + "x" + std::to_string(width) + "x" +
                                std::to_string(channels) + " (channels must be 1-4)");
  }
  pb::Event event = EventAt(step, wall_time);
  pb::Summary::Image* image = AddValue(event, tag)->mutable_image();
  image->set_height(height);
  image->set_width(width);
  image->set_colorspace(channels);
  image->set_encoded_image_string(png_bytes);
  return event;
}

pb::Event TextEvent(const std::string& tag, int64_t step, const std::string& text,
                    double wall_time) {
  pb::Event event = EventAt(step, wall_time);
  pb::Summary::Value* value = AddValue(event, tag);
  // The plugin's content is a serialized TextPluginData{version: 0}: empty bytes.
  value->mutable_metadata()->mutable_plugin_data()->set_plugin_name(kTextPluginName);
  pb::TensorProto* tensor = value->mutable_tensor();
  tensor->set_dtype(pb::DT_STRING);
  tensor->mutable_tensor_shape();  // present and empty: rank 0
  tensor->add_string_val(text);
  return event;
}

pb::Event SessionStartEvent(int64_t step, double wall_time) {
  pb::Event event = EventAt(step, wall_time);
  event.mutable_session_log()->set_status(pb::SessionLog::START);
  return event;
}

}  // namespace bagel::tensorboard
