#include "worker/tensorboard/record_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "testing/temp_dir.h"

namespace bagel::tensorboard {
namespace {

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(RecordFileTest, NeverOpensAnExistingFile) {
  bagel::testing::TempDir dir("tb_record_file");
  const std::string path = dir.File("events");
  std::ofstream(path) << "someone else's";
  try {
    RecordFile file(path);
    FAIL() << "opened an existing file";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::file_exists);
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos);
  }
  EXPECT_EQ(Contents(path), "someone else's");
}

TEST(RecordFileTest, NamesTheFileWhenItCannotCreateIt) {
  bagel::testing::TempDir dir("tb_record_file");
  const std::string path = dir.File("missing/events");
  try {
    RecordFile file(path);
    FAIL() << "created a file in a missing folder";
  } catch (const std::system_error& error) {
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos);
  }
}

TEST(RecordFileTest, BuffersUntilFlushAndWritesTheRestWhenDestroyed) {
  bagel::testing::TempDir dir("tb_record_file");
  const std::string path = dir.File("events");
  {
    RecordFile file(path);
    file.Append("first ");
    EXPECT_EQ(Contents(path), "");  // well within kWriteBytes and kWriteInterval
    file.Flush();
    EXPECT_EQ(Contents(path), "first ");
    file.Append("second");
  }
  EXPECT_EQ(Contents(path), "first second");
}

TEST(RecordFileTest, WritesOnceTheBufferIsFull) {
  bagel::testing::TempDir dir("tb_record_file");
  const std::string path = dir.File("events");
  RecordFile file(path);
  const std::string big(RecordFile::kWriteBytes, 'r');
  file.Append(big);
  EXPECT_EQ(Contents(path), big);
}

}  // namespace
}  // namespace bagel::tensorboard
