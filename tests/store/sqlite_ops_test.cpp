#include <doctest/doctest.h>
#include <sqlite3.h>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::postgres;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::seed;
using pigeon::engine::test::temp_dir;

namespace {

std::unique_ptr<sqlite_store> seeded(const std::string& path) {
  auto s = sqlite_store::open(path);
  seed(s.get());
  return s;
}

void exec(const std::string& path, const std::string& sql) {
  auto error = pigeon::engine::test::run_sqlite(path, sql);
  REQUIRE_MESSAGE(error.empty(), error);
}

}  // namespace

TEST_CASE("a database of another application is refused and left untouched") {
  temp_dir dir;
  auto path = dir.file("other.db");
  exec(path, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
  CHECK_THROWS_WITH_AS(sqlite_store::open(path),
                       doctest::Contains("is not a pigeon database: it has tables"), store_error);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT count(*) FROM sqlite_master", -1, &st, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 1);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

TEST_CASE("a provider's hour p99 comes from its latest ten thousand completed attempts") {
  temp_dir dir;
  const auto path = dir.file("p.db");
  auto s = seeded(path);
  const std::int64_t now = 10'000'000;
  // Within the hour: 2,000 slow attempts (900 ms) 40 minutes ago, then 10,000 at 100 ms in the
  // last ten minutes. Over the whole hour the p99 would be 900; over the latest 10,000 it is 100.
  exec(path,
       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000) "
       "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, "
       "outcome, completed_at) SELECT 1, 1, 'promo', 1, 'main', "
       "CASE WHEN i <= 2000 THEN " +
           std::to_string(now - 2'400'000) + " + i ELSE " + std::to_string(now - 600'000) +
           " + i END, 'submitted', "
           "CASE WHEN i <= 2000 THEN " +
           std::to_string(now - 2'400'000) + " + i + 900 ELSE " + std::to_string(now - 600'000) +
           " + i + 100 END FROM n");
  auto ops = s->operations(at_ms(now));
  REQUIRE(ops.providers.size() == 1);
  CHECK(ops.providers[0].last_hour.attempts == 12000);
  REQUIRE(ops.providers[0].p99_latency_ms);
  CHECK(*ops.providers[0].p99_latency_ms == doctest::Approx(100));
  // With 200 more slow ones among the latest, they are the top 2 %: the p99 is theirs.
  exec(path,
       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
       "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, "
       "outcome, completed_at) SELECT 1, 1, 'promo', 1, 'main', " +
           std::to_string(now - 1000) + " + i, 'submitted', " + std::to_string(now - 1000) +
           " + i + 700 FROM n");
  CHECK(*s->operations(at_ms(now)).providers[0].p99_latency_ms == doctest::Approx(700));
}

TEST_CASE("on PostgreSQL a provider's hour p99 comes from its latest ten thousand attempts") {
  pigeon::engine::test::postgres_backend backend;
  auto* s = dynamic_cast<postgres_store*>(backend.open());
  REQUIRE(s);
  s->save_campaign(make_campaign("promo", "h1"));
  s->upsert_contacts({make_contact("+8613800000000")});
  auto& db = s->connection();
  const std::int64_t now = 10'000'000;
  // As the SQLite case above: 2,000 slow attempts (900 ms) 40 minutes ago, then 10,000 at
  // 100 ms in the last ten minutes; the ledger rows need a message to point at.
  db.exec(
      "INSERT INTO messages (campaign, step, variant, contact_id, state, due_at, created_at, "
      "updated_at) SELECT 'promo', 'p99', 'A', min(id), 'submitted', 0, 0, 0 FROM contacts");
  auto ledger = [&](int count, std::int64_t from, int latency) {
    db.exec(
        "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, "
        "outcome, completed_at) SELECT (SELECT max(id) FROM messages), 1, 'promo', 1, 'main', " +
        std::to_string(from) + " + i, 'submitted', " + std::to_string(from) + " + i + " +
        std::to_string(latency) + " FROM generate_series(1, " + std::to_string(count) + ") i");
  };
  ledger(2000, now - 2'400'000, 900);
  ledger(10000, now - 600'000, 100);
  auto ops = s->operations(at_ms(now));
  REQUIRE(ops.providers.size() == 1);
  CHECK(ops.providers[0].last_hour.attempts == 12000);
  REQUIRE(ops.providers[0].p99_latency_ms);
  CHECK(*ops.providers[0].p99_latency_ms == doctest::Approx(100));
  // 100 slow ones among the latest 10,000 are the top 1 %: the p99 (the 9,900th) is still a
  // fast one; one more and it is theirs.
  ledger(100, now - 1000, 700);
  CHECK(*s->operations(at_ms(now)).providers[0].p99_latency_ms == doctest::Approx(100));
  ledger(1, now - 500, 700);
  CHECK(*s->operations(at_ms(now)).providers[0].p99_latency_ms == doctest::Approx(700));
}
