// The Store on an embedded SQLite database: WAL journal, synchronous=NORMAL, foreign keys,
// schema versions applied as numbered migrations (migrations.h). One connection guarded by a
// mutex; the coordinator is its only writer.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "coordinator/store/store.h"

struct sqlite3;

namespace bagel::coord {

class SqliteStore final : public Store {
 public:
  // Opens (creating when missing) and migrates the database at `path` (":memory:" for tests).
  // FAILED_PRECONDITION when the file holds a newer schema than this binary knows.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;

  absl::Status Apply(const WriteBatch& batch) override;
  absl::StatusOr<StoredState> Load() override;
  absl::StatusOr<std::vector<EventRecord>> Events(const std::string& job_id, int limit) override;

  // The schema version of the open database.
  int SchemaVersion();
  // Runs raw SQL (tests that build old schemas or corrupt rows).
  absl::Status ExecForTest(const std::string& sql);

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const std::string& sql);
  absl::Status ApplyLocked(const WriteBatch& batch);

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace bagel::coord
