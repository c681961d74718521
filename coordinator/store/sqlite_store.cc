#include "coordinator/store/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "coordinator/store/migrations.h"

namespace bagel::coord {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status SqlError(sqlite3* db, const std::string& what) {
  const int code = sqlite3_errcode(db);
  const std::string msg = absl::StrCat(what, ": ", sqlite3_errmsg(db));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR || code == SQLITE_FULL) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return s_ != nullptr; }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  absl::Status Run(const std::string& what) {
    if (!s_) return SqlError(db_, "prepare " + what);
    return Step() == SQLITE_DONE ? absl::OkStatus() : SqlError(db_, what);
  }
  std::string ColText(int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, sqlite3_column_bytes(s_, i)) : std::string();
  }
  std::string ColBlob(int i) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, sqlite3_column_bytes(s_, i)) : std::string();
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

std::string RanksJson(const AttemptRecord& a) {
  nlohmann::json j;
  j["ranks"] = nlohmann::json::array();
  for (const auto& r : a.ranks) {
    j["ranks"].push_back({{"rank", r.rank},
                          {"worker", r.worker},
                          {"state", static_cast<int>(r.state)},
                          {"exit_code", r.exit_code},
                          {"message", r.message}});
  }
  j["stop_for_cancel"] = a.stop_for_cancel;
  j["permanent_failure"] = a.permanent_failure;
  j["stop_deadline_ms"] = a.stop_deadline_ms;
  return j.dump();
}

bool ParseRanksJson(const std::string& text, AttemptRecord& a) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    for (const auto& r : j.at("ranks")) {
      RankRecord rr;
      rr.rank = r.at("rank").get<int32_t>();
      rr.worker = r.at("worker").get<std::string>();
      rr.state = static_cast<RankState>(r.at("state").get<int>());
      rr.exit_code = r.at("exit_code").get<int32_t>();
      rr.message = r.at("message").get<std::string>();
      a.ranks.push_back(std::move(rr));
    }
    a.stop_for_cancel = j.value("stop_for_cancel", false);
    a.permanent_failure = j.value("permanent_failure", false);
    a.stop_deadline_ms = j.value("stop_deadline_ms", int64_t{0});
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", msg));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", "PRAGMA foreign_keys=ON;"}) {
    if (auto s = store->Exec(pragma); !s.ok()) return s;
  }
  const int have = store->SchemaVersion();
  const auto& migrations = Migrations();
  const int newest = migrations.back().version;
  if (have > newest) {
    return absl::FailedPreconditionError(absl::StrCat("database ", path, " has schema version ",
                                                      have, "; this coordinator knows up to ",
                                                      newest, " (newer binary needed)"));
  }
  for (const auto& m : migrations) {
    if (m.version <= have) continue;
    // One transaction per migration: a crash leaves the previous version intact.
    if (auto s = store->Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
    absl::Status s = store->Exec(m.sql);
    if (s.ok()) {
      Stmt st(db,
              "INSERT INTO schema_migrations(version, description, applied_unix_ms) VALUES(?,?,?)");
      s = st.Int(1, m.version).Text(2, m.description).Int(3, NowMs()).Run("record migration");
    }
    if (s.ok()) s = store->Exec(absl::StrCat("PRAGMA user_version=", m.version, ";"));
    if (!s.ok()) {
      store->Exec("ROLLBACK;").IgnoreError();
      return absl::Status(s.code(), absl::StrCat("migration ", m.version, ": ", s.message()));
    }
    if (auto c = store->Exec("COMMIT;"); !c.ok()) return c;
  }
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

absl::Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return SqlError(db_, msg);
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::ExecForTest(const std::string& sql) {
  std::lock_guard<std::mutex> lock(mu_);
  return Exec(sql);
}

int SqliteStore::SchemaVersion() {
  Stmt st(db_, "PRAGMA user_version;");
  return st.ok() && st.Step() == SQLITE_ROW ? static_cast<int>(st.ColInt(0)) : 0;
}

absl::Status SqliteStore::Apply(const WriteBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  if (auto s = Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
  absl::Status s = ApplyLocked(batch);
  if (s.ok()) s = Exec("COMMIT;");
  if (!s.ok()) Exec("ROLLBACK;").IgnoreError();
  return s;
}

absl::Status SqliteStore::ApplyLocked(const WriteBatch& b) {
  for (const auto& job : b.jobs) {
    bagel::v1::Job copy = job;
    copy.clear_attempts();
    Stmt st(db_,
            "INSERT INTO jobs(id, owner, name, state, priority, created_unix_ms, request_id, "
            "depends_on, record) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
            "state=excluded.state, priority=excluded.priority, record=excluded.record");
    st.Text(1, job.id()).Text(2, job.owner()).Text(3, job.name()).Int(4, job.state());
    st.Int(5, job.priority()).Int(6, job.created_unix_ms()).Text(7, job.request_id());
    st.Text(8, job.depends_on()).Blob(9, copy.SerializeAsString());
    if (auto s = st.Run("upsert job"); !s.ok()) return s;
  }
  for (const auto& a : b.attempts) {
    Stmt st(db_,
            "INSERT INTO attempts(job_id, idx, state, record, ranks) VALUES(?,?,?,?,?) "
            "ON CONFLICT(job_id, idx) DO UPDATE SET state=excluded.state, record=excluded.record, "
            "ranks=excluded.ranks");
    st.Text(1, a.job_id).Int(2, a.attempt.index()).Int(3, a.attempt.state());
    st.Blob(4, a.attempt.SerializeAsString()).Text(5, RanksJson(a));
    if (auto s = st.Run("upsert attempt"); !s.ok()) return s;
  }
  for (const auto& w : b.workers) {
    Stmt st(
        db_,
        "INSERT INTO workers(name, state, incarnation, drain, record) VALUES(?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET state=excluded.state, incarnation=excluded.incarnation, "
        "drain=excluded.drain, record=excluded.record");
    st.Text(1, w.worker.name()).Int(2, w.worker.state()).Text(3, w.incarnation);
    st.Int(4, w.drain ? 1 : 0).Blob(5, w.worker.SerializeAsString());
    if (auto s = st.Run("upsert worker"); !s.ok()) return s;
  }
  for (const auto& c : b.checkpoints) {
    Stmt st(db_,
            "INSERT INTO checkpoints(job_id, step, path, bytes, attempt, created_unix_ms, final) "
            "VALUES(?,?,?,?,?,?,?) ON CONFLICT(job_id, step) DO UPDATE SET path=excluded.path, "
            "bytes=excluded.bytes, final=excluded.final");
    st.Text(1, c.job_id()).Int(2, c.step()).Text(3, c.path()).Int(4, c.bytes());
    st.Int(5, c.attempt()).Int(6, c.created_unix_ms()).Int(7, c.final() ? 1 : 0);
    if (auto s = st.Run("upsert checkpoint"); !s.ok()) return s;
  }
  for (const auto& [job, step] : b.deleted_checkpoints) {
    Stmt st(db_, "DELETE FROM checkpoints WHERE job_id=? AND step=?");
    if (auto s = st.Text(1, job).Int(2, step).Run("delete checkpoint"); !s.ok()) return s;
  }
  for (const auto& e : b.events) {
    Stmt st(db_, "INSERT INTO events(job_id, unix_ms, kind, message) VALUES(?,?,?,?)");
    if (auto s =
            st.Text(1, e.job_id).Int(2, e.unix_ms).Text(3, e.kind).Text(4, e.message).Run("event");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredState> SqliteStore::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  StoredState out;
  {
    Stmt st(db_, "SELECT record FROM jobs ORDER BY created_unix_ms, id");
    if (!st.ok()) return SqlError(db_, "load jobs");
    while (st.Step() == SQLITE_ROW) {
      bagel::v1::Job j;
      if (!j.ParseFromString(st.ColBlob(0))) return absl::DataLossError("corrupt job record");
      out.jobs.push_back(std::move(j));
    }
  }
  {
    Stmt st(db_, "SELECT job_id, record, ranks FROM attempts ORDER BY job_id, idx");
    if (!st.ok()) return SqlError(db_, "load attempts");
    while (st.Step() == SQLITE_ROW) {
      AttemptRecord a;
      a.job_id = st.ColText(0);
      if (!a.attempt.ParseFromString(st.ColBlob(1)) || !ParseRanksJson(st.ColText(2), a)) {
        return absl::DataLossError(absl::StrCat("corrupt attempt record of job ", a.job_id));
      }
      out.attempts.push_back(std::move(a));
    }
  }
  {
    Stmt st(db_, "SELECT record, incarnation, drain FROM workers ORDER BY name");
    if (!st.ok()) return SqlError(db_, "load workers");
    while (st.Step() == SQLITE_ROW) {
      WorkerRecord w;
      if (!w.worker.ParseFromString(st.ColBlob(0))) return absl::DataLossError("corrupt worker");
      w.incarnation = st.ColText(1);
      w.drain = st.ColInt(2) != 0;
      out.workers.push_back(std::move(w));
    }
  }
  {
    Stmt st(db_,
            "SELECT job_id, step, path, bytes, attempt, created_unix_ms, final FROM checkpoints "
            "ORDER BY job_id, step");
    if (!st.ok()) return SqlError(db_, "load checkpoints");
    while (st.Step() == SQLITE_ROW) {
      bagel::v1::Checkpoint c;
      c.set_job_id(st.ColText(0));
      c.set_step(st.ColInt(1));
      c.set_path(st.ColText(2));
      c.set_bytes(st.ColInt(3));
      c.set_attempt(static_cast<int32_t>(st.ColInt(4)));
      c.set_created_unix_ms(st.ColInt(5));
      c.set_final(st.ColInt(6) != 0);
      out.checkpoints.push_back(std::move(c));
    }
  }
  return out;
}

absl::StatusOr<std::vector<EventRecord>> SqliteStore::Events(const std::string& job_id, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_,
          "SELECT job_id, unix_ms, kind, message FROM (SELECT * FROM events WHERE job_id=? "
          "ORDER BY seq DESC LIMIT ?) ORDER BY seq");
  if (!st.ok()) return SqlError(db_, "events");
  st.Text(1, job_id).Int(2, limit);
  std::vector<EventRecord> out;
  while (st.Step() == SQLITE_ROW) {
    out.push_back({st.ColText(0), st.ColInt(1), st.ColText(2), st.ColText(3)});
  }
  return out;
}

}  // namespace bagel::coord
