#include "coordinator/store/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "coordinator/store/migrations.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;

std::string DbPath(const std::string& name) {
  const auto p = fs::path(::testing::TempDir()) / ("store-" + name + ".db");
  fs::remove(p);
  fs::remove(p.string() + "-wal");
  fs::remove(p.string() + "-shm");
  return p.string();
}

WriteBatch SampleBatch() {
  WriteBatch b;
  bagel::v1::Job j;
  j.set_id("j-1");
  j.set_owner("alice");
  j.set_name("demo");
  j.set_state(bagel::v1::RUNNING);
  j.set_created_unix_ms(5);
  j.set_request_id("r1");
  j.set_spec_yaml("model: {}\n");
  j.mutable_progress()->set_step(7);
  b.jobs.push_back(j);
  AttemptRecord a;
  a.job_id = "j-1";
  a.attempt.set_index(0);
  a.attempt.set_state(bagel::v1::ATTEMPT_RUNNING);
  a.attempt.set_world_size(2);
  a.ranks = {{0, "w1", RankState::kRunning, 0, ""}, {1, "w2", RankState::kExited, 137, "killed"}};
  a.stop_deadline_ms = 99;
  b.attempts.push_back(a);
  WorkerRecord w;
  w.worker.set_name("w1");
  w.worker.set_gpus(8);
  w.worker.set_state(bagel::v1::WORKER_READY);
  w.incarnation = "inc";
  w.drain = true;
  b.workers.push_back(w);
  bagel::v1::Checkpoint c;
  c.set_job_id("j-1");
  c.set_step(50);
  c.set_path("/ckpt/j-1/step-00000050");
  c.set_bytes(123);
  b.checkpoints.push_back(c);
  b.events.push_back({"j-1", 1, "state", "PENDING"});
  b.events.push_back({"j-1", 2, "state", "RUNNING"});
  return b;
}

TEST(SqliteStoreTest, RoundTripsAndSurvivesReopen) {
  const auto path = DbPath("roundtrip");
  {
    auto s = SqliteStore::Open(path);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->SchemaVersion(), Migrations().back().version);
    ASSERT_TRUE((*s)->Apply(SampleBatch()).ok());
  }
  auto s = SqliteStore::Open(path);
  ASSERT_TRUE(s.ok());
  auto st = (*s)->Load();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->jobs.size(), 1u);
  EXPECT_EQ(st->jobs[0].progress().step(), 7);
  ASSERT_EQ(st->attempts.size(), 1u);
  EXPECT_EQ(st->attempts[0].ranks[1].exit_code, 137);
  EXPECT_EQ(st->attempts[0].ranks[1].state, RankState::kExited);
  EXPECT_EQ(st->attempts[0].stop_deadline_ms, 99);
  ASSERT_EQ(st->workers.size(), 1u);
  EXPECT_TRUE(st->workers[0].drain);
  EXPECT_EQ(st->workers[0].incarnation, "inc");
  ASSERT_EQ(st->checkpoints.size(), 1u);
  EXPECT_EQ(st->checkpoints[0].bytes(), 123);
  auto ev = (*s)->Events("j-1", 10);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_EQ((*ev)[1].message, "RUNNING");
  // WAL mode.
  EXPECT_TRUE(fs::exists(path + "-wal"));
}

TEST(SqliteStoreTest, BatchIsAllOrNothing) {
  auto s = SqliteStore::Open(":memory:");
  ASSERT_TRUE(s.ok());
  WriteBatch b = SampleBatch();
  // A second job reusing (owner, request_id) violates the unique index: nothing is written.
  bagel::v1::Job dup = b.jobs[0];
  dup.set_id("j-2");
  b.jobs.push_back(dup);
  EXPECT_FALSE((*s)->Apply(b).ok());
  auto st = (*s)->Load();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->jobs.empty());
  EXPECT_TRUE(st->attempts.empty());
  EXPECT_TRUE((*s)->Events("j-1", 10)->empty());
}

TEST(SqliteStoreTest, MigratesAVersionOneDatabase) {
  const auto path = DbPath("v1");
  {
    // Build a database as version 1 of the binary left it.
    auto s = SqliteStore::Open(path);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->ExecForTest("DROP INDEX jobs_owner_request; DROP INDEX jobs_queue; "
                                  "DROP INDEX events_by_job; DELETE FROM schema_migrations "
                                  "WHERE version = 2; PRAGMA user_version = 1;")
                    .ok());
    EXPECT_EQ((*s)->SchemaVersion(), 1);
  }
  auto s = SqliteStore::Open(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->SchemaVersion(), 2);
  ASSERT_TRUE((*s)->Apply(SampleBatch()).ok());
}

TEST(SqliteStoreTest, RefusesANewerSchema) {
  const auto path = DbPath("newer");
  {
    auto s = SqliteStore::Open(path);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->ExecForTest("PRAGMA user_version = 99;").ok());
  }
  auto s = SqliteStore::Open(path);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SqliteStoreTest, UnopenablePathIsUnavailable) {
  auto s = SqliteStore::Open("/nonexistent-dir/x/y.db");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace bagel::coord
