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
using pigeon::engine::test::temp_dir;

namespace {

// Four messages of campaign "promo", due at 1 s.
store* seed(store* s) {
  s->save_campaign(make_campaign("promo", "h1"));
  std::vector<contact> cs;
  for (int i = 0; i < 4; ++i) cs.push_back(make_contact("+861380000000" + std::to_string(i)));
  auto ids = s->upsert_contacts(cs);
  std::vector<new_message> ms;
  for (auto id : ids) ms.push_back(make_message("promo", "s1", id, 1000));
  s->enqueue(ms);
  return s;
}

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

STORE_TEST_CASE("a clean stop releases only its own leases and leaves submitting messages alone") {
  store_backend backend;
  store* s = seed(backend.open());
  auto mine = s->claim_due(at_ms(1000), 3, at_ms(600000), "me");
  REQUIRE(mine.size() == 3);
  s->mark_submitting({{mine[0].id, "main", "x", 1, at_ms(1100)}});
  auto theirs = s->claim_due(at_ms(1000), 1, at_ms(600000), "other");
  REQUIRE(theirs.size() == 1);
  CHECK(s->release_leases("me") == 2);
  auto st = s->status(at_ms(2000));
  CHECK(st.by_state.at("scheduled") == 2);
  CHECK(st.by_state.at("leased") == 1);
  CHECK(st.by_state.at("submitting") == 1);
  CHECK(s->release_leases("me") == 0);
}

STORE_TEST_CASE("operations count attempts per provider and window, with latency and error rate") {
  store_backend backend;
  store* s = seed(backend.open());
  auto now = at_ms(10'000'000);
  auto claimed = s->claim_due(now, 4, now + std::chrono::minutes(5), "me");
  REQUIRE(claimed.size() == 4);
  // Four attempts 30 s ago: three on main, one on backup.
  for (int i = 0; i < 4; ++i) {
    s->mark_submitting(
        {{claimed[i].id, i < 3 ? "main" : "backup", "x", 1, now - std::chrono::seconds(30)}});
  }
  auto done = now - std::chrono::seconds(30) + std::chrono::milliseconds(250);
  s->record_outcomes(
      {{claimed[0].id, message_state::submitted, "main", "c0", "", {}, done},
       {claimed[1].id, message_state::failed, "main", "", "rejected 21211", {}, done},
       {claimed[2].id, message_state::retry, "main", "", "carrier 503", now, done}});
  auto ops = s->operations(now);
  CHECK(ops.last_minute.attempts == 4);
  CHECK(ops.last_minute.pending == 1);
  CHECK(ops.last_minute.accepted == 1);
  CHECK(ops.last_minute.failed == 1);
  CHECK(ops.last_minute.retried == 1);
  CHECK(ops.last_minute.error_rate() == doctest::Approx(2.0 / 3));
  REQUIRE(ops.providers.size() == 2);
  CHECK(ops.providers[0].name == "backup");
  CHECK(!ops.providers[0].p99_latency_ms);
  CHECK(ops.providers[1].name == "main");
  CHECK(ops.providers[1].last_hour.attempts == 3);
  REQUIRE(ops.providers[1].p99_latency_ms);
  CHECK(*ops.providers[1].p99_latency_ms == doctest::Approx(250));
  CHECK(ops.retry_backlog == 1);
  // An hour later, nothing is recent.
  auto later = s->operations(now + std::chrono::hours(2));
  CHECK(later.last_hour.attempts == 0);
  REQUIRE(ops.campaigns.size() == 1);
  CHECK(ops.campaigns[0].variants.at(0).total == 4);
  CHECK(ops.campaigns[0].variants.at(0).sent == 1);
  CHECK(ops.campaigns[0].variants.at(0).failed == 1);
  CHECK(ops.replies_table);
  CHECK(ops.campaigns[0].opt_outs == 0);
}

STORE_TEST_CASE("a rehearsal's attempts stay out of the live rates but count for the campaign") {
  store_backend backend;
  store* s = seed(backend.open());
  auto now = at_ms(10'000'000);
  auto claimed = s->claim_due(now, 4, now + std::chrono::minutes(5), "me");
  REQUIRE(claimed.size() == 4);
  s->mark_submitting({{claimed[0].id, "main", "x", 1, now - std::chrono::seconds(30)}});
  s->mark_sends_simulated();
  for (int i = 1; i < 4; ++i)
    s->mark_submitting({{claimed[i].id, "main", "x", 1, now - std::chrono::seconds(30)}});
  for (int i = 0; i < 4; ++i)
    s->record_outcomes({{claimed[i].id, message_state::submitted, "main", "c", "", {}, now}});
  auto ops = s->operations(now);
  CHECK(ops.last_minute.attempts == 1);
  CHECK(ops.last_hour.attempts == 1);
  REQUIRE(ops.providers.size() == 1);
  CHECK(ops.providers[0].last_minute.attempts == 1);
  REQUIRE(ops.campaigns.size() == 1);
  CHECK(ops.campaigns[0].variants.at(0).sent == 4);
}

STORE_TEST_CASE("replies per keyword and opt-outs after a send are counted per campaign") {
  store_backend backend;
  store* s = seed(backend.open());
  auto claimed = s->claim_due(at_ms(1000), 4, at_ms(600000), "me");
  REQUIRE(claimed.size() == 4);
  s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1100)}});
  s->record_outcomes(
      {{claimed[0].id, message_state::submitted, "main", "c0", "", {}, at_ms(1200)}});
  // A STOP attributed to the message sent, two YES matched to the campaign without one.
  auto reply = [&](const claimed_message& to, const char* keyword, std::int64_t message,
                   const char* carrier_id, std::int64_t at) {
    reply_row r;
    r.provider = "main";
    r.carrier_id = carrier_id;
    r.phone = to.recipient.phone;
    r.contact_id = to.recipient.id;
    r.text = r.normalized = keyword;
    r.at = at_ms(at);
    r.id = s->record_reply(r);
    r.campaign = "promo";
    r.keyword = keyword;
    r.message_id = message;
    s->update_reply(r);
  };
  reply(claimed[0], "STOP", claimed[0].id, "r1", 4000);
  reply(claimed[1], "YES", 0, "r2", 4100);
  reply(claimed[2], "YES", 0, "r3", 4200);
  s->opt_out(claimed[0].recipient.id, "reply: STOP", at_ms(5000));
  auto ops = s->operations(at_ms(6000));
  CHECK(ops.replies_table);
  REQUIRE(ops.campaigns.size() == 1);
  CHECK(ops.campaigns[0].replies == std::map<std::string, std::int64_t>{{"STOP", 1}, {"YES", 2}});
  CHECK(ops.campaigns[0].variants.at(0).replies == 1);
  CHECK(ops.campaigns[0].opt_outs == 1);
}

STORE_TEST_CASE("lane detail stored with the heartbeat is read back while the engine runs") {
  store_backend backend;
  store* s = seed(backend.open());
  s->heartbeat("pid-1", at_ms(1000));
  s->heartbeat_detail("pid-1", R"([{"name":"main"}])");
  CHECK(s->operations(at_ms(1000)).lane_detail == R"([{"name":"main"}])");
  s->engine_stopped("pid-1", at_ms(2000));
  CHECK(s->operations(at_ms(2000)).lane_detail.empty());
}

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
