#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/model/model.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace pigeon::engine::sqlite {

// A thin RAII wrapper over one sqlite3 connection and its cached prepared statements. Every
// SQLite failure becomes a store_error carrying sqlite3_errmsg and the statement involved.
//
// Threading: one thread at a time, like the store that owns it. The connection is opened in
// SQLite's multi-thread mode (no mutex per call): handing it to another thread between calls
// is safe when the hand-over synchronises (a thread start, a mutex), never concurrent use.
class database {
 public:
  // Opens (creating if needed) the file at `path`; with read_only, opens an existing file for
  // reading only (every write fails with SQLITE_READONLY). Throws store_error naming the path.
  // Without `create`, a missing file fails to open instead of becoming an empty database.
  explicit database(const std::string& path, bool read_only = false, bool create = true);
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Runs one or more statements without results.
  void exec(const std::string& sql);
  // Runs a statement that yields one integer (e.g. "PRAGMA user_version").
  std::int64_t query_int(const std::string& sql);

  std::int64_t changes() const;
  // The rowid of the last row INSERTed on this connection.
  std::int64_t last_insert_rowid() const;
  // False when no transaction is open (SQLite's autocommit mode).
  bool in_transaction() const;
  const std::string& path() const { return path_; }

  // Throws store_error for result code `rc` with the connection's message and `context`.
  [[noreturn]] void fail(int rc, std::string_view context) const;

  sqlite3* handle() const { return db_; }
  // The cached prepared statement for `sql` (prepared on first use). Used through `query`.
  sqlite3_stmt* cached(const std::string& sql);

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

// One use of a prepared statement: bind, step, read columns. Resets the statement and clears
// its bindings when destroyed, so a statement that threw half-way is ready for the next use.
// Parameters are 1-based, columns 0-based (as in SQLite).
class query {
 public:
  // Uses the connection's cached statement for `sql`.
  query(database& db, const std::string& sql);
  ~query();
  query(const query&) = delete;
  query& operator=(const query&) = delete;

  query& bind(int index, std::int64_t value);
  query& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  query& bind(int index, std::string_view value);
  query& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  query& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  query& bind(int index, time_point value);
  query& bind(int index, std::nullopt_t);
  template <typename T>
  query& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
  }

  // Resets the statement and clears its bindings, for another use of the same statement.
  void reset();
  // Advances to the next row: true when there is one, false when done.
  bool step();
  // Steps to completion, for statements without results.
  void run();

  bool is_null(int column) const;
  std::int64_t get_int(int column) const;
  std::string get_text(int column) const;
  // The column's text without a copy: valid until the next step() or reset().
  std::string_view get_view(int column) const;
  time_point get_time(int column) const;
  std::optional<time_point> get_opt_time(int column) const;
  std::optional<std::string> get_opt_text(int column) const {
    return is_null(column) ? std::nullopt : std::optional<std::string>(get_text(column));
  }

 private:
  database& db_;
  sqlite3_stmt* stmt_;
};

inline std::int64_t to_ms(time_point t) { return t.time_since_epoch().count(); }
inline time_point from_ms(std::int64_t ms) { return time_point(std::chrono::milliseconds(ms)); }

}  // namespace pigeon::engine::sqlite
