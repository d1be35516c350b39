#pragma once

#include "engine/store/sqlite/database.hpp"

namespace pigeon::engine::sqlite {

// The newest schema version this binary knows (PRAGMA user_version after all migrations).
int latest_schema_version();

// Brings the database to latest_schema_version(), one migration per transaction, recording each
// in schema_migrations. Throws store_error if the database is newer than this binary (the
// message names the file and both versions) or a migration fails (that migration rolls back).
void migrate(database& db, std::int64_t now_ms);

}  // namespace pigeon::engine::sqlite
