#include "coordinator/store/migrations.h"

namespace bagel::coord {

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "jobs, attempts, workers, checkpoints, events", R"sql(
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_unix_ms INTEGER NOT NULL);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  request_id TEXT NOT NULL DEFAULT '',
  depends_on TEXT NOT NULL DEFAULT '',
  record BLOB NOT NULL);            -- bagel.v1.Job, serialized
CREATE TABLE attempts (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  state INTEGER NOT NULL,
  record BLOB NOT NULL,             -- bagel.v1.Attempt, serialized
  ranks TEXT NOT NULL,              -- JSON: each rank's worker, state, exit code
  PRIMARY KEY (job_id, idx));
CREATE TABLE workers (
  name TEXT PRIMARY KEY,
  state INTEGER NOT NULL,
  incarnation TEXT NOT NULL,
  drain INTEGER NOT NULL DEFAULT 0,
  record BLOB NOT NULL);            -- bagel.v1.Worker, serialized
CREATE TABLE checkpoints (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  final INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, step));
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  unix_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL);
)sql"},
      {2, "indexes: idempotent submit, queue order, events by job", R"sql(
CREATE UNIQUE INDEX jobs_owner_request ON jobs(owner, request_id) WHERE request_id != '';
CREATE INDEX jobs_queue ON jobs(state, priority DESC, created_unix_ms);
CREATE INDEX events_by_job ON events(job_id, seq);
)sql"},
  };
  return kMigrations;
}

}  // namespace bagel::coord
