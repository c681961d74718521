#include "worker/tensorboard/event_file_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tensorboard/event.pb.h"
#include "testing/temp_dir.h"
#include "worker/tensorboard/testing_events.h"
#include "worker/tensorboard/tfrecord_reader.h"

namespace bagel::tensorboard {
namespace {

namespace pb = ::tensorboard;

using testing::ReadEvents;

std::vector<std::string> FilesIn(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

TEST(EventFileWriterTest, CreatesTheLogDirAndOneFileNamedAsTensorBoardExpects) {
  bagel::testing::TempDir dir("tb_writer");
  const std::filesystem::path log_dir = dir.path() / "runs" / "job-1";
  EventFileWriter writer(log_dir.string());
  const std::vector<std::string> names = FilesIn(log_dir);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(std::filesystem::path(writer.path()).filename(), names[0]);
  const std::regex pattern(R"(events\.out\.tfevents\.\d{10}\.[^/]+\.(\d+)\.\d+)");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(names[0], match, pattern)) << names[0];
  EXPECT_EQ(match[1], std::to_string(::getpid()));
}

TEST(EventFileWriterTest, StartsWithTheFileVersionAlreadyOnDisk) {
  bagel::testing::TempDir dir("tb_writer");
  const double before = UnixTimeNow();
  EventFileWriter writer(dir.path().string());
  const std::vector<pb::Event> events = ReadEvents(writer.path());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_GE(events[0].wall_time(), before);
  EXPECT_LE(events[0].wall_time(), UnixTimeNow());
}

TEST(EventFileWriterTest, WritesScalarsImagesTextAndSessionStarts) {
  bagel::testing::TempDir dir("tb_writer");
  const std::string png("\x89PNG\r\n\x1a\n and the rest, \0 included", 33);
  std::string path;
  {
    EventFileWriter writer(dir.path().string());
    path = writer.path();
    writer.AddSessionStart(1, 100.0);
    writer.AddScalar("train/loss", 1, 0.1, 101.5);
    writer.AddImage("samples/t2i", 2, png, 48, 64, 3, 102.0);
    writer.AddText("notes/spec", 3, "**stage** 2", 103.0);
    writer.AddScalar("train/loss", 4, -2.5);
  }
  const std::vector<pb::Event> events = ReadEvents(path);
  ASSERT_EQ(events.size(), 6u);

  EXPECT_EQ(events[1].step(), 1);
  EXPECT_EQ(events[1].wall_time(), 100.0);
  EXPECT_EQ(events[1].session_log().status(), pb::SessionLog::START);

  const pb::Summary::Value& loss = events[2].summary().value(0);
  EXPECT_EQ(events[2].step(), 1);
  EXPECT_EQ(events[2].wall_time(), 101.5);
  EXPECT_EQ(loss.tag(), "train/loss");
  EXPECT_EQ(loss.simple_value(), 0.1f);

  const pb::Summary::Value& image = events[3].summary().value(0);
  EXPECT_EQ(events[3].step(), 2);
  EXPECT_EQ(image.tag(), "samples/t2i");
  EXPECT_EQ(image.image().encoded_image_string(), png);
  EXPECT_EQ(image.image().height(), 48);
  EXPECT_EQ(image.image().width(), 64);
  EXPECT_EQ(image.image().colorspace(), 3);

  const pb::Summary::Value& text = events[4].summary().value(0);
  EXPECT_EQ(events[4].step(), 3);
  EXPECT_EQ(text.tag(), "notes/spec");
  EXPECT_EQ(text.metadata().plugin_data().plugin_name(), "text");
  EXPECT_EQ(text.metadata().plugin_data().content(), "");
  EXPECT_EQ(text.tensor().dtype(), pb::DT_STRING);
  EXPECT_TRUE(text.tensor().has_tensor_shape());
  EXPECT_EQ(text.tensor().tensor_shape().dim_size(), 0);
  ASSERT_EQ(text.tensor().string_val_size(), 1);
  EXPECT_EQ(text.tensor().string_val(0), "**stage** 2");

  EXPECT_EQ(events[5].summary().value(0).simple_value(), -2.5f);
  EXPECT_GT(events[5].wall_time(), 1.6e9);  // defaulted to now
}

TEST(EventFileWriterTest, FlushPutsEverythingOnDiskWhileWriting) {
  bagel::testing::TempDir dir("tb_writer");
  EventFileWriter writer(dir.path().string());
  for (int step = 1; step <= 50; ++step) {
    writer.AddScalar("loss", step, 1.0 / step);
  }
  writer.Flush();
  const std::vector<pb::Event> events = ReadEvents(writer.path());
  ASSERT_EQ(events.size(), 51u);
  EXPECT_EQ(events.back().step(), 50);
}

TEST(EventFileWriterTest, RejectsAnImpossibleImageSize) {
  bagel::testing::TempDir dir("tb_writer");
  EventFileWriter writer(dir.path().string());
  EXPECT_THROW(writer.AddImage("img", 1, "png", 0, 4, 3), std::invalid_argument);
  EXPECT_THROW(writer.AddImage("img", 1, "png", 4, 4, 5), std::invalid_argument);
}

TEST(EventFileWriterTest, TwoWritersInOneSecondWriteTwoFiles) {
  bagel::testing::TempDir dir("tb_writer");
  EventFileWriter first(dir.path().string());
  EventFileWriter second(dir.path().string());
  EXPECT_NE(first.path(), second.path());
  EXPECT_EQ(FilesIn(dir.path()).size(), 2u);
}

// A writer killed mid-record leaves a cut record at the tail: everything before it still reads.
TEST(EventFileWriterTest, AFileCutInsideItsLastRecordReadsUpToTheLastWholeOne) {
  bagel::testing::TempDir dir("tb_writer");
  std::string path;
  {
    EventFileWriter writer((dir.path() / "run").string());
    path = writer.path();
    for (int step = 1; step <= 5; ++step) {
      writer.AddScalar("loss", step, step * 0.5);
    }
  }
  const RecordScan whole = ReadRecordFile(path);
  ASSERT_EQ(whole.records.size(), 6u);
  const size_t last_size = whole.records.back().size() + 16;
  const size_t last_start = std::filesystem::file_size(path) - last_size;
  for (const size_t keep : {size_t{1}, size_t{8}, size_t{12}, last_size / 2, last_size - 1}) {
    const std::string cut_path = dir.File("cut");
    std::filesystem::copy_file(path, cut_path, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut_path, last_start + keep);
    const RecordScan scan = ReadRecordFile(cut_path);
    EXPECT_EQ(scan.tail, RecordTail::kTruncated) << keep;
    ASSERT_EQ(scan.records.size(), 5u) << keep;
    pb::Event last;
    ASSERT_TRUE(last.ParseFromString(scan.records.back()));
    EXPECT_EQ(last.step(), 4);
    EXPECT_EQ(last.summary().value(0).simple_value(), 2.0f);
  }
}

}  // namespace
}  // namespace bagel::tensorboard
