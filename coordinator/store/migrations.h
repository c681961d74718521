// The database schema as numbered migrations. Version N's SQL turns a version N-1 database into
// version N; PRAGMA user_version holds the current version and schema_migrations the history.
// Add a migration at the end to change the schema; never edit a released one.
#pragma once

#include <string>
#include <vector>

namespace bagel::coord {

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// Every migration, in order (versions 1, 2, ...).
const std::vector<Migration>& Migrations();

}  // namespace bagel::coord
