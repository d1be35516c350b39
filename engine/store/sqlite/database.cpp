#include "engine/store/sqlite/database.hpp"

#include <sqlite3.h>

#include "engine/store/store.hpp"

namespace pigeon::engine::sqlite {

namespace {

// Keeps error messages readable: the first line of a statement is enough to recognise it.
std::string abbreviate(std::string_view sql) {
  auto first = sql.substr(0, sql.find('\n'));
  if (first.size() > 80) return std::string(first.substr(0, 77)) + "...";
  return std::string(first);
}

}  // namespace

database::database(const std::string& path, bool read_only, bool create) : path_(path) {
  // No memory statistics: with them every sqlite3_malloc takes a global mutex. Only possible
  // before SQLite initialises (the first open); later calls fail harmlessly.
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  // Multi-thread mode (no per-call connection mutex): a connection is used by one thread at a
  // time (async_store opens on one thread and then writes only on its writer thread; thread
  // start orders the two), which is all SQLite requires in that mode.
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           (read_only ? SQLITE_OPEN_READONLY
                                      : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)) |
                               SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw store_error("cannot open database " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
}

database::~database() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

void database::fail(int rc, std::string_view context) const {
  std::string msg = sqlite3_errmsg(db_);
  if (msg.empty() || msg == "not an error") msg = sqlite3_errstr(rc);
  throw store_error(msg + " (while running: " + abbreviate(context) + ")");
}

void database::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw store_error(msg + " (while running: " + abbreviate(sql) + ")");
  }
}

std::int64_t database::query_int(const std::string& sql) {
  query q(*this, sql);
  if (!q.step()) throw store_error("no result (while running: " + abbreviate(sql) + ")");
  return q.get_int(0);
}

std::int64_t database::changes() const { return sqlite3_changes64(db_); }

std::int64_t database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

bool database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

sqlite3_stmt* database::cached(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc, sql);
  statements_.emplace(sql, stmt);
  return stmt;
}

query::query(database& db, const std::string& sql) : db_(db), stmt_(db.cached(sql)) {}

query::~query() { reset(); }

void query::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

query& query::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_.fail(rc, sqlite3_sql(stmt_));
  return *this;
}

query& query::bind(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_.fail(rc, sqlite3_sql(stmt_));
  return *this;
}

query& query::bind(int index, time_point value) { return bind(index, to_ms(value)); }

query& query::bind(int index, std::nullopt_t) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_.fail(rc, sqlite3_sql(stmt_));
  return *this;
}

bool query::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail(rc, sqlite3_sql(stmt_));
}

void query::run() {
  while (step()) {
  }
}

bool query::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::int64_t query::get_int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string query::get_text(int column) const {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (!text) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string_view query::get_view(int column) const {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (!text) return {};
  return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

time_point query::get_time(int column) const { return from_ms(get_int(column)); }

std::optional<time_point> query::get_opt_time(int column) const {
  if (is_null(column)) return std::nullopt;
  return get_time(column);
}

}  // namespace pigeon::engine::sqlite
