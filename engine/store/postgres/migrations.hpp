#pragma once

#include <cstdint>

namespace pigeon::engine::postgres {

class connection;

// The schema version this binary writes.
int latest_schema_version();

// Brings the database to latest_schema_version() in one transaction, under an
// advisory lock so nodes starting together migrate once. Throws store_error when the database
// has tables but no pigeon schema, or a schema newer than this binary (a node older than the
// schema is refused: it would write rows the newer nodes misread).
void migrate(connection& db);

}  // namespace pigeon::engine::postgres
