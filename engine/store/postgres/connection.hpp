#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"

struct pg_conn;
struct pg_result;

namespace pigeon::engine::postgres {

// A thin RAII wrapper over one libpq connection and its prepared statements, shaped like
// engine/store/sqlite/database.hpp so the two backends read alike. Every PostgreSQL failure
// becomes a store_error carrying the server's message (and SQLSTATE) and the statement involved.
//
// Threading: one thread at a time, like the store that owns it; it may move between threads
// between calls when the hand-over synchronises.
//
// Types: times are BIGINT milliseconds since the Unix epoch and flags INTEGER 0/1, as in the
// SQLite schema, so a copy between the backends is a copy of values.
class connection {
 public:
  // Connects with a libpq connection string or URI ("postgresql://user@host:port/db",
  // "host=/tmp/x dbname=y"); the password comes from the URI, PGPASSWORD or ~/.pgpass. Throws
  // store_error naming the target (password masked) when it cannot connect.
  explicit connection(const std::string& conninfo);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Runs one or more statements without parameters or results (DDL, BEGIN, SAVEPOINT, ...).
  void exec(const std::string& sql);
  // Runs a statement that yields one integer in its first row and column (NULL reads as 0).
  std::int64_t query_int(const std::string& sql);
  // False when no transaction is open.
  bool in_transaction() const;
  // Statements run on this connection now and again after every reconnect (session settings).
  void set_session(const std::string& sql);
  // True when the server dropped the connection (a restart, a failover, pg_terminate_backend):
  // every statement fails until reconnect().
  bool lost() const;
  // Connects again (libpq's PQreset, same target), forgets the prepared statements (they lived in
  // the old server session) and reruns the session settings. Throws store_error naming the
  // target when the server is still unreachable; the caller retries later.
  void reconnect();
  // The target as given, with any password masked: for messages.
  const std::string& target() const { return target_; }

  // Throws store_error with the connection's (or `result`'s) message and `context`.
  [[noreturn]] void fail(const pg_result* result, std::string_view context) const;

  pg_conn* handle() const { return conn_; }
  // The name of the server-side prepared statement for `sql` with `params` parameters, prepared
  // on first use. Used through `query`.
  const std::string& prepared(const std::string& sql, int params);

 private:
  std::string target_;
  std::string session_;  // set_session()'s statements
  pg_conn* conn_ = nullptr;
  std::map<std::string, std::string, std::less<>> statements_;  // sql -> statement name
};

// One execution of a prepared statement: bind ($1, $2, ... are 1-based), then run() or step()
// through the rows; columns are 0-based. Parameters travel as text; NULL is a null parameter.
// The statement executes at the first step()/run(); reset() forgets the result and the bindings
// for another execution of the same statement.
class query {
 public:
  query(connection& db, std::string sql);
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

  // Forgets the result and the bindings, for another execution of the same statement.
  void reset();
  // Executes (first call) and advances to the next row: true when there is one.
  bool step();
  // Executes, for statements whose rows are not read.
  void run();
  // Rows the executed statement inserted, updated or deleted.
  std::int64_t changes() const;

  bool is_null(int column) const;
  std::int64_t get_int(int column) const;
  std::string get_text(int column) const;
  // The column's text without a copy: valid until the next step(), reset() or destruction.
  std::string_view get_view(int column) const;
  double get_double(int column) const;
  time_point get_time(int column) const;
  std::optional<time_point> get_opt_time(int column) const;
  std::optional<std::string> get_opt_text(int column) const {
    return is_null(column) ? std::nullopt : std::optional<std::string>(get_text(column));
  }

 private:
  void execute();

  connection& db_;
  std::string sql_;
  std::vector<std::optional<std::string>> params_;
  pg_result* result_ = nullptr;
  int row_ = -1;
  int rows_ = 0;
};

// The connection string or URI with any password masked ("postgresql://u:***@h/db",
// "password=***"): how a database is named in messages and `status`.
std::string mask_password(const std::string& conninfo);

inline std::int64_t to_ms(time_point t) { return t.time_since_epoch().count(); }
inline time_point from_ms(std::int64_t ms) { return time_point(std::chrono::milliseconds(ms)); }

}  // namespace pigeon::engine::postgres
