#include "engine/store/copy/db_copy.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::copy {

namespace {

// The tables in an order their foreign keys accept; a table of the target not named here
// follows, by name (a later migration's).
constexpr std::array<const char*, 17> table_order = {
    "contacts",         "campaigns",       "campaign_heads",      "campaign_templates",
    "campaign_replies", "messages",        "send_ledger",         "receipts",
    "replies",          "events",          "contact_preferences", "ab_tests",
    "journey_entries",  "journey_members", "journey_exits",       "journey_dates",
    "journey_clock"};

// Never copied: each backend's own schema bookkeeping, and engine heartbeats (a node registers
// itself when it starts; the SQLite engine's row would read as a stopped node).
bool bookkeeping(const std::string& table) {
  return table == "pigeon_schema" || table == "schema_migrations" || table == "engine_heartbeat" ||
         table.starts_with("sqlite_");
}

std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + quoted(n);
  return out;
}

std::vector<std::string> sqlite_tables(sqlite::database& db) {
  std::vector<std::string> out;
  sqlite::query q(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  while (q.step())
    if (auto name = q.get_text(0); !bookkeeping(name)) out.push_back(name);
  return out;
}

std::vector<std::string> sqlite_columns(sqlite::database& db, const std::string& table) {
  std::vector<std::string> out;
  sqlite::query q(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid");
  q.bind(1, table);
  while (q.step()) out.push_back(q.get_text(0));
  return out;
}

// The target's tables in copy order.
std::vector<std::string> postgres_tables(postgres::connection& db) {
  std::set<std::string> all;
  postgres::query q(db,
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "ORDER BY tablename");
  while (q.step())
    if (auto name = q.get_text(0); !bookkeeping(name)) all.insert(name);
  std::vector<std::string> out;
  for (const char* t : table_order)
    if (all.erase(t)) out.emplace_back(t);
  out.insert(out.end(), all.begin(), all.end());
  return out;
}

std::set<std::string> postgres_columns(postgres::connection& db, const std::string& table,
                                       bool identity_only) {
  std::set<std::string> out;
  postgres::query q(db,
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = $1 AND ($2 = 0 OR is_identity = 'YES')");
  q.bind(1, table).bind(2, identity_only ? 1 : 0);
  while (q.step()) out.insert(q.get_text(0));
  return out;
}

// One value in COPY's text format: \N for NULL, and the four characters that would end a
// field or a row escaped.
void append_field(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

// Streams one table from the SQLite snapshot into `COPY table (columns) FROM STDIN`, in chunks
// of about 1 MiB. Returns the rows sent.
std::int64_t copy_table(sqlite::database& src, postgres::connection& dst, const std::string& table,
                        const std::vector<std::string>& columns) {
  auto* conn = dst.handle();
  auto sql = "COPY " + quoted(table) + " (" + joined(columns) + ") FROM STDIN";
  PGresult* start = PQexec(conn, sql.c_str());
  if (PQresultStatus(start) != PGRES_COPY_IN) {
    try {
      dst.fail(start, sql);
    } catch (...) {
      PQclear(start);
      throw;
    }
  }
  PQclear(start);
  auto put = [&](const std::string& chunk) {
    if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1)
      dst.fail(nullptr, sql);
  };
  std::int64_t rows = 0;
  std::string buffer;
  buffer.reserve(1 << 20);
  {
    sqlite::query q(src, "SELECT " + joined(columns) + " FROM " + quoted(table));
    const int n = static_cast<int>(columns.size());
    while (q.step()) {
      for (int i = 0; i < n; ++i) {
        if (i > 0) buffer += '\t';
        if (q.is_null(i))
          buffer += "\\N";
        else
          append_field(buffer, q.get_view(i));
      }
      buffer += '\n';
      ++rows;
      if (buffer.size() >= (1 << 20)) {
        put(buffer);
        buffer.clear();
      }
    }
  }
  if (!buffer.empty()) put(buffer);
  if (PQputCopyEnd(conn, nullptr) != 1) dst.fail(nullptr, sql);
  // The COPY's outcome (a rejected row: its table, line and value in the message).
  bool failed = false;
  std::string why;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed) {
      failed = true;
      try {
        dst.fail(r, "copy of table " + table);
      } catch (const store_error& e) {
        why = e.what();
      }
    }
    PQclear(r);
  }
  if (failed) throw store_error(why);
  return rows;
}

// "3 contacts, 1 campaigns" for the target's tables that hold rows; empty when none does.
std::string rows_present(postgres::connection& dst, const std::vector<std::string>& tables) {
  std::string out;
  for (const auto& t : tables) {
    if (auto n = dst.query_int("SELECT count(*) FROM " + quoted(t)); n > 0)
      out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + t;
  }
  return out;
}

// Moves every identity sequence of `table` past its largest value, so the next row the engine
// inserts gets a fresh id.
void reset_identities(postgres::connection& dst, const std::string& table) {
  for (const auto& column : postgres_columns(dst, table, true)) {
    dst.exec("SELECT setval(pg_get_serial_sequence('" + quoted(table) + "', '" + column +
             "'), COALESCE((SELECT max(" + quoted(column) + ") FROM " + quoted(table) +
             "), 0) + 1, false)");
  }
}

}  // namespace

copy_result copy_database(const std::string& sqlite_path, const std::string& postgres_url,
                          const std::function<void(const std::string&, std::int64_t)>& progress) {
  copy_result result;
  result.source = sqlite_path;
  // The source as any reading command opens it (missing: an error; older: migrated), then a
  // read-only connection for the copy.
  sqlite::sqlite_store::open(sqlite_path, sqlite::sqlite_store::open_mode::existing).reset();
  sqlite::database src(sqlite_path, /*read_only=*/true, /*create=*/false);
  src.exec("PRAGMA busy_timeout = 5000");
  auto target = postgres::postgres_store::open(postgres_url);  // connects, and brings the schema
  auto& dst = target->connection();
  result.target = dst.target();

  auto tables = postgres_tables(dst);
  std::vector<std::pair<std::string, std::vector<std::string>>> plan;
  src.exec("BEGIN");  // one snapshot: every table as of the same moment
  try {
    for (const auto& table : sqlite_tables(src)) {
      if (std::find(tables.begin(), tables.end(), table) == tables.end())
        throw store_error("table " + table + " of " + sqlite_path + " has no place in " +
                          result.target + "'s schema: this pigeon cannot copy it");
      auto columns = sqlite_columns(src, table);
      auto known = postgres_columns(dst, table, false);
      for (const auto& c : columns)
        if (!known.contains(c))
          throw store_error("column " + table + "." + c + " of " + sqlite_path +
                            " has no place in " + result.target +
                            "'s schema: this pigeon cannot copy it");
      plan.emplace_back(table, std::move(columns));
    }
    // Keep copy order (the target's, foreign keys first).
    std::stable_sort(plan.begin(), plan.end(), [&](const auto& a, const auto& b) {
      return std::find(tables.begin(), tables.end(), a.first) <
             std::find(tables.begin(), tables.end(), b.first);
    });

    auto started = std::chrono::steady_clock::now();
    dst.exec("BEGIN");
    try {
      // Nobody writes to the target meanwhile, so "empty" still holds at the commit.
      if (!tables.empty()) dst.exec("LOCK TABLE " + joined(tables) + " IN EXCLUSIVE MODE");
      if (auto present = rows_present(dst, tables); !present.empty()) {
        result.refused = "target database " + result.target + " has " + present +
                         ": db copy only fills an empty database (create a new one, e.g. "
                         "createdb, and copy into it)";
        dst.exec("ROLLBACK");
        src.exec("ROLLBACK");
        return result;
      }
      for (const auto& [table, columns] : plan) {
        auto rows = copy_table(src, dst, table, columns);
        result.rows += rows;
        reset_identities(dst, table);
        if (progress) progress(table, rows);
      }
      // The check: every table's count in the target against the source's snapshot.
      for (const auto& table : tables) {
        table_count count{table, 0, 0};
        bool in_source =
            std::any_of(plan.begin(), plan.end(), [&](const auto& p) { return p.first == table; });
        if (in_source) count.source = src.query_int("SELECT count(*) FROM " + quoted(table));
        count.target = dst.query_int("SELECT count(*) FROM " + quoted(table));
        if (count.source != count.target)
          result.mismatch += (result.mismatch.empty() ? "" : "; ") + table + ": " +
                             std::to_string(count.source) + " in the source, " +
                             std::to_string(count.target) + " in the target";
        result.tables.push_back(count);
      }
      if (result.mismatch.empty())
        dst.exec("COMMIT");
      else
        dst.exec("ROLLBACK");
    } catch (...) {
      try {
        dst.exec("ROLLBACK");
      } catch (const store_error&) {
      }
      throw;
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    src.exec("ROLLBACK");
  } catch (...) {
    try {
      if (src.in_transaction()) src.exec("ROLLBACK");
    } catch (const store_error&) {
    }
    throw;
  }
  return result;
}

}  // namespace pigeon::engine::copy
