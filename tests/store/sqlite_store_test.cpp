#include "engine/store/sqlite/sqlite_store.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "engine/store/sqlite/migrations.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::only_message;
using pigeon::engine::test::seed;
using pigeon::engine::test::temp_dir;

TEST_CASE("opening a database creates its parent directories and round-trips a contact") {
  temp_dir dir;
  auto s = sqlite_store::open(dir.file("var/nested/pigeon.db"));
  auto ids = s->upsert_contacts({make_contact("+8613800000000")});
  REQUIRE(ids.size() == 1);
  auto found = s->find_contact("+8613800000000");
  REQUIRE(found);
  CHECK(found->id == ids[0]);
  CHECK(found->tags == std::vector<std::string>{"member"});
  CHECK(found->attributes.at("first_name").as_string() == "Li");
  CHECK(found->tz == "Asia/Shanghai");
  CHECK_FALSE(s->find_contact("+8613800000009"));
}

TEST_CASE("opening an existing database only never creates one, nor its directories") {
  temp_dir dir;
  auto missing = dir.file("var/nested/pigeon.db");
  CHECK_THROWS_WITH_AS(sqlite_store::open(missing, sqlite_store::open_mode::existing),
                       doctest::Contains(("no database at " + missing).c_str()), store_error);
  CHECK_FALSE(std::filesystem::exists(dir.file("var")));
  sqlite_store::open(missing)->upsert_contacts({make_contact("+8613800000000")});
  auto s = sqlite_store::open(missing, sqlite_store::open_mode::existing);
  CHECK(s->find_contact("+8613800000000"));
}

TEST_CASE("submitting is durable: a reopened database sees it and its ledger row") {
  temp_dir dir;
  auto path = dir.file("p.db");
  std::int64_t id = 0;
  {
    auto s = sqlite_store::open(path);
    auto ids = seed(*s);
    s->enqueue({make_message("promo", "s1", ids[0], 1000)});
    id = s->claim_due(at_ms(1000), 1, at_ms(2000), "a").at(0).id;
    s->mark_submitting({{id, "main", "rendered body", 2, at_ms(1100)}});
  }
  auto s = sqlite_store::open(path);
  auto row = only_message(*s);
  CHECK(row.id == id);
  CHECK(row.state == message_state::submitting);
  CHECK(row.provider == "main");
  CHECK(row.body == "rendered body");
  CHECK(row.attempts == 1);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT attempt, outcome FROM send_ledger", -1, &st, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 1);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 1))) == "pending");
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

TEST_CASE("recovery after a crash releases leases and retries unknown submissions") {
  temp_dir dir;
  auto path = dir.file("p.db");
  {
    auto s = sqlite_store::open(path);
    auto ids = seed(*s, 3);
    s->enqueue({make_message("promo", "s1", ids[0], 1000),
                make_message("promo", "s1", ids[1], 1000),
                make_message("promo", "s1", ids[2], 1000)});
    auto claimed = s->claim_due(at_ms(1000), 10, at_ms(600000), "dead");
    s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1100)}});
  }
  auto s = sqlite_store::open(path);
  auto [released, reconciled] = s->recover_after_crash(at_ms(5000), std::chrono::milliseconds(0));
  // The dead run's claims were in its memory: their rows never left `scheduled`.
  CHECK(released == 0);
  CHECK(reconciled == 1);
  auto status = s->status(at_ms(5000));
  CHECK(status.by_state.at("scheduled") == 2);
  CHECK(status.by_state.at("retry") == 1);
  CHECK(status.possible_duplicates == 1);
  auto claimed = s->claim_due(at_ms(5000), 10, at_ms(600000), "new");
  CHECK(claimed.size() == 3);
  CHECK(s->status(at_ms(5000)).by_state.at("leased") == 3);
  CHECK(s->recover_after_crash(at_ms(6000), std::chrono::milliseconds(0)) ==
        std::pair<std::size_t, std::size_t>{3, 0});
}

TEST_CASE("a database with a newer schema version is refused with a clear message") {
  temp_dir dir;
  auto path = dir.file("x.db");
  { sqlite_store::open(path); }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  const int future = sqlite::latest_schema_version() + 1;
  REQUIRE(sqlite3_exec(raw, ("PRAGMA user_version = " + std::to_string(future)).c_str(), nullptr,
                       nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(raw);
  try {
    sqlite_store::open(path);
    FAIL("opened a database from the future");
  } catch (const store_error& e) {
    CHECK(std::string(e.what()) == "database " + path + " has schema version " +
                                       std::to_string(future) + "; this pigeon supports up to " +
                                       std::to_string(sqlite::latest_schema_version()) +
                                       " — upgrade pigeon");
  }
}

TEST_CASE("a file that is not a database is refused, naming the path") {
  temp_dir dir;
  auto path = dir.file("notes.db");
  std::ofstream(path)
      << "these are my notes, not a database, and they are long enough to be a header"
      << std::string(200, 'x');
  try {
    sqlite_store::open(path);
    FAIL("opened a text file");
  } catch (const store_error& e) {
    std::string what = e.what();
    CHECK(what.find(path) != std::string::npos);
    CHECK(what.find("not a pigeon database") != std::string::npos);
  }
}
