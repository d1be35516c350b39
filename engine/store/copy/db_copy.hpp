#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pigeon::engine::copy {

// One table of a copy: its rows in the source, and in the target after the copy.
struct table_count {
  std::string table;
  std::int64_t source = 0;
  std::int64_t target = 0;
};

// What `pigeon db copy` did. `refused` (the target was not empty) and `mismatch` (a table's
// counts differ after the copy) are the expected failures: in both, nothing was committed.
struct copy_result {
  std::string source;  // the SQLite file
  std::string target;  // the PostgreSQL database, password masked
  std::string refused;
  std::string mismatch;
  std::vector<table_count> tables;
  std::int64_t rows = 0;  // rows copied, all tables
  double seconds = 0;     // the copy itself (COPY, sequences, counts), not the connecting
  bool committed() const { return refused.empty() && mismatch.empty(); }
};

// Copies every table of the SQLite database at `sqlite_path` (contacts, campaigns with all
// their versions, heads, templates and reply settings, the queue, the send ledger, receipts,
// replies, events, preferences, A/B tests, journey tables) into the PostgreSQL database at
// `postgres_url`, keeping ids, and moves each identity sequence past the largest id copied.
// One transaction on the target, committed only when the target was empty (its tables are
// locked meanwhile) and every table's count there equals the source's; the source is read in
// one read transaction (a consistent snapshot) and never written, except that an older schema
// is first migrated, as any pigeon command does. Engine heartbeats are not copied: nodes
// register themselves. Rows travel with COPY FROM STDIN. `progress(table, rows)` is called
// after each table. Throws store_error when a database cannot be opened, a source table or
// column has no place in the target's schema, or PostgreSQL rejects a row.
copy_result copy_database(
    const std::string& sqlite_path, const std::string& postgres_url,
    const std::function<void(const std::string&, std::int64_t)>& progress = nullptr);

}  // namespace pigeon::engine::copy
