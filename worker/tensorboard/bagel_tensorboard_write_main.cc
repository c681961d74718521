// bagel-tensorboard-write: writes a demo TensorBoard log directory with EventFileWriter, for
// tests/observability/tensorboard_reader_test.sh to read back with the real TensorBoard.
//
//   bagel-tensorboard-write --logdir DIR --steps N [--restart-step K] [--image PNG] [--text TEXT]
//
// A first file (session 0): SessionLog START at step 1, the image and the text at step 1, then
// scalars train/loss and train/lr at steps 1..N. With --restart-step K a second file, as a job
// restarted from the checkpoint of step K-1 writes it (session 1): START at K, then the scalars of
// steps K..N again with other values. Prints one line per scalar written,
// "scalar<TAB>tag<TAB>step<TAB>value", and "file<TAB>path" per file, so the check needs no copy
// of the values' formula. Exit 0, or 1 with one line on stderr.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>

#include "worker/tensorboard/event_file_writer.h"

namespace {

using bagel::tensorboard::EventFileWriter;

struct PngSize {
  int height = 0;
  int width = 0;
  int channels = 0;
};

// Height, width and channels from a PNG's IHDR chunk, which the format puts first.
PngSize ReadPngSize(const std::string& png, const std::string& path) {
  static const std::string kSignature = "\x89PNG\r\n\x1a\n";
  if (png.size() < 26 || png.compare(0, 8, kSignature) != 0 || png.compare(12, 4, "IHDR") != 0) {
    throw std::runtime_error(path + ": not a PNG file");
  }
  const auto big_endian = [&](size_t at) {
    uint32_t value = 0;
    for (size_t i = at; i < at + 4; ++i) {
      value = (value << 8) | static_cast<uint8_t>(png[i]);
    }
    return static_cast<int>(value);
  };
  // Channels per colour type: 0 grey, 2 RGB, 3 palette (RGB), 4 grey + alpha, 6 RGBA.
  constexpr int kChannels[7] = {1, 0, 3, 3, 2, 0, 4};
  const auto colour_type = static_cast<uint8_t>(png[25]);
  if (colour_type > 6 || kChannels[colour_type] == 0) {
    throw std::runtime_error(path + ": unknown PNG colour type");
  }
  PngSize size;
  size.width = big_endian(16);
  size.height = big_endian(20);
  size.channels = kChannels[colour_type];
  return size;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot open " + path);
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Scalars that differ between sessions and are not exact in float32.
void WriteScalars(EventFileWriter& writer, int first_step, int last_step, int session) {
  for (int step = first_step; step <= last_step; ++step) {
    const double loss = 1.0 / (step + 0.3) + session;
    const double lr = 1e-4 * std::sqrt(static_cast<double>(step)) * (1 + session);
    for (const auto& [tag, value] : {std::pair{"train/loss", loss}, std::pair{"train/lr", lr}}) {
      writer.AddScalar(tag, step, value);
      std::printf("scalar\t%s\t%d\t%.17g\n", tag, step, value);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes a demo TensorBoard log directory (scalars, an image, text, a restart)"};
  std::string log_dir, image_path, text;
  int steps = 0, restart_step = 0;
  app.add_option("--logdir", log_dir, "log directory (created if needed)")->required();
  app.add_option("--steps", steps, "scalars at steps 1..N")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--restart-step", restart_step, "a restarted session writes steps K..N again")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--image", image_path, "a PNG file logged at step 1 as samples/image");
  app.add_option("--text", text, "text logged at step 1 as notes/config");
  CLI11_PARSE(app, argc, argv);

  try {
    if (restart_step > steps) {
      throw std::invalid_argument("--restart-step must be at most --steps");
    }
    {
      EventFileWriter writer(log_dir);
      writer.AddSessionStart(1);
      if (!image_path.empty()) {
        const std::string png = ReadFile(image_path);
        const PngSize size = ReadPngSize(png, image_path);
        writer.AddImage("samples/image", 1, png, size.height, size.width, size.channels);
      }
      if (!text.empty()) {
        writer.AddText("notes/config", 1, text);
      }
      WriteScalars(writer, 1, steps, /*session=*/0);
      writer.Flush();
      std::printf("file\t%s\n", writer.path().c_str());
    }
    if (restart_step > 0) {
      EventFileWriter writer(log_dir);
      writer.AddSessionStart(restart_step);
      WriteScalars(writer, restart_step, steps, /*session=*/1);
      writer.Flush();
      std::printf("file\t%s\n", writer.path().c_str());
    }
  } catch (const std::exception& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "bagel-tensorboard-write: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
