// The store's per-message dispatch path (claim, mark_submitting, record_outcomes) as reshaped for
// speed: migration 8's claimable index, the ledger row kept by rowid, one read per intent; and
// the reads of status (migration 9's index, open_reader beside the writer).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "engine/store/sqlite/migrations.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::seed;
using pigeon::engine::test::temp_dir;

namespace {

// A second connection on the file, as `sqlite3` or another process would have.
class raw_db {
 public:
  explicit raw_db(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db_) == 0); }
  ~raw_db() { sqlite3_close(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    std::string message = err ? err : "";
    sqlite3_free(err);
    INFO(sql, ": ", message);
    REQUIRE(rc == SQLITE_OK);
  }
  // Every row of `sql`, columns joined by '|'.
  std::vector<std::string> rows(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        if (i > 0) row += '|';
        auto* text = sqlite3_column_text(st, i);
        row += text ? reinterpret_cast<const char*>(text) : "NULL";
      }
      out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

bool plan_uses(raw_db& db, const std::string& sql, const std::string& index) {
  for (const auto& row : db.rows("EXPLAIN QUERY PLAN " + sql))
    if (row.find(" INDEX " + index) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("messages queued before migration 8 are still claimed, oldest due first") {
  temp_dir dir;
  auto path = dir.file("p.db");
  {
    auto s = sqlite_store::open(path);
    auto ids = seed(*s, 3);
    s->enqueue({make_message("promo", "s1", ids[0], 3000),
                make_message("promo", "s1", ids[1], 1000),
                make_message("promo", "s1", ids[2], 9000)});
  }
  {
    // Back to schema 7 as an older pigeon left it: its claimable index filtered with IN.
    // (8 is the migration that recreates messages_claimable: renumber with it.)
    raw_db raw(path);
    raw.exec("DROP INDEX messages_claimable");
    raw.exec(
        "CREATE INDEX messages_claimable ON messages (due_at) "
        "WHERE state IN ('scheduled', 'retry', 'deferred')");
    raw.exec("DROP INDEX messages_maybe_duplicate");  // what migration 9 added
    raw.exec("DROP INDEX messages_by_state");         // and what 10 changed
    raw.exec("CREATE INDEX messages_by_state ON messages (campaign, state)");
    raw.exec("CREATE INDEX messages_leased ON messages (lease_until) WHERE state = 'leased'");
    for (const char* column : {"min_per_variant", "sample_percent", "next_check_at"})  // 11
      raw.exec(std::string("ALTER TABLE ab_tests DROP COLUMN ") + column);
    raw.exec("ALTER TABLE send_ledger DROP COLUMN simulated");  // 12
    for (const char* table : {"journey_entries", "journey_members", "journey_exits",
                              "journey_dates", "journey_clock"})  // 13 (messages is rebuilt)
      raw.exec(std::string("DROP TABLE ") + table);
    raw.exec("DELETE FROM schema_migrations WHERE version >= 8");
    raw.exec("PRAGMA user_version = 7");
  }
  auto s = sqlite_store::open(path);
  raw_db raw(path);
  CHECK(raw.rows("PRAGMA user_version") ==
        std::vector<std::string>{std::to_string(sqlite::latest_schema_version())});
  auto index = raw.rows("SELECT sql FROM sqlite_master WHERE name = 'messages_claimable'");
  REQUIRE(index.size() == 1);
  CHECK(index[0].find(" IN ") == std::string::npos);
  auto claimed = s->claim_due(at_ms(5000), 10, at_ms(60000), "a");
  REQUIRE(claimed.size() == 2);
  CHECK(claimed[0].due == at_ms(1000));
  CHECK(claimed[1].due == at_ms(3000));
  CHECK(s->next_due() == at_ms(9000));
  CHECK(s->status(at_ms(10000)).oldest_due == at_ms(9000));
}

TEST_CASE("claims and the next due time read waiting messages through the claimable index") {
  // A query uses a partial index only when its WHERE holds the index's filter verbatim; without
  // the index every claim scans the whole message table.
  temp_dir dir;
  auto path = dir.file("p.db");
  { sqlite_store::open(path); }
  raw_db raw(path);
  const std::string claimable = sqlite::claimable_sql;
  CHECK(plan_uses(raw,
                  "SELECT m.id FROM messages m WHERE " + claimable +
                      " AND m.due_at <= 5 ORDER BY m.due_at LIMIT 10",
                  "messages_claimable"));
  CHECK(plan_uses(raw, "SELECT min(m.due_at) FROM messages m WHERE " + claimable,
                  "messages_claimable"));
  // The same states written as IN are a different expression: no index (what migration 8
  // changed, and why the queries share claimable_sql).
  CHECK_FALSE(plan_uses(raw,
                        "SELECT min(m.due_at) FROM messages m "
                        "WHERE m.state IN ('scheduled', 'retry', 'deferred')",
                        "messages_claimable"));
}

TEST_CASE("each outcome lands on the ledger row of its own attempt") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = sqlite_store::open(path);
  auto ids = seed(*s, 1);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(60000), "a").at(0).id;
  REQUIRE(s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}}).size() == 1);
  s->record_outcomes(
      {{id, message_state::retry, "main", "", "503 busy", at_ms(2000), at_ms(1200)}});
  REQUIRE(s->claim_due(at_ms(2000), 1, at_ms(60000), "a").size() == 1);
  REQUIRE(s->mark_submitting({{id, "main", "hello", 1, at_ms(2100)}}).size() == 1);
  s->record_outcomes(
      {{id, message_state::submitted, "main", "C-2", "", std::nullopt, at_ms(2200)}});
  // A receipt's verdict after the attempt's answer: the same (latest) row, found without the
  // kept rowid.
  s->record_outcomes({{id, message_state::delivered, "main", "", "", std::nullopt, at_ms(2300)}});
  raw_db raw(path);
  CHECK(
      raw.rows("SELECT attempt, outcome, carrier_id, completed_at FROM send_ledger ORDER BY id") ==
      std::vector<std::string>{"1|retry||1200", "2|delivered|C-2|2200"});
}

TEST_CASE("after a rolled-back intent an outcome never lands on another message's ledger row") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = sqlite_store::open(path);
  auto ids = seed(*s, 2);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000)});
  auto claimed = s->claim_due(at_ms(1000), 2, at_ms(60000), "a");
  REQUIRE(claimed.size() == 2);
  auto first = claimed[0].id;
  auto second = claimed[1].id;
  // The first intent's transaction fails after its ledger row was written: rolled back, so the
  // next ledger row (the second message's) reuses that row id.
  CHECK_THROWS_AS(s->transaction([&] {
    REQUIRE(s->mark_submitting({{first, "main", "hello", 1, at_ms(1100)}}).size() == 1);
    throw store_error("disk full");
  }),
                  store_error);
  REQUIRE(s->mark_submitting({{second, "main", "hello", 1, at_ms(1200)}}).size() == 1);
  s->record_outcomes(
      {{first, message_state::failed, "main", "", "given up", std::nullopt, at_ms(1300)}});
  raw_db raw(path);
  CHECK(raw.rows("SELECT message_id, outcome FROM send_ledger") ==
        std::vector<std::string>{std::to_string(second) + "|pending"});
  s->record_outcomes(
      {{second, message_state::submitted, "main", "C-9", "", std::nullopt, at_ms(1400)}});
  CHECK(raw.rows("SELECT message_id, outcome, carrier_id FROM send_ledger") ==
        std::vector<std::string>{std::to_string(second) + "|submitted|C-9"});
}

TEST_CASE("a contact opted out behind the engine's back is suppressed at claim and at submit") {
  // opted_out_at written by another connection (an import, a manual fix), so opt_out() did not
  // suppress the queued messages: the claim and mark_submitting still must not send them.
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = sqlite_store::open(path);
  auto ids = seed(*s, 3);
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 1000)});
  auto direct = s->enqueue_direct("promo", ids[0], 1, "HELP: call us", at_ms(1000));
  raw_db raw(path);
  raw.exec("UPDATE contacts SET opted_out_at = 500 WHERE id = " + std::to_string(ids[0]));
  auto claimed = s->claim_due(at_ms(1000), 10, at_ms(60000), "a");
  // The direct reply to the opted-out contact still goes; their campaign message does not.
  REQUIRE(claimed.size() == 3);
  CHECK(claimed[0].recipient.id == ids[1]);
  CHECK(claimed[1].recipient.id == ids[2]);
  CHECK(claimed[2].id == direct);
  raw.exec("UPDATE contacts SET opted_out_at = 1100 WHERE id = " + std::to_string(ids[1]));
  auto marked = s->mark_submitting({{claimed[0].id, "main", "hello", 1, at_ms(1200)},
                                    {claimed[1].id, "main", "hello", 1, at_ms(1200)},
                                    {claimed[2].id, "main", "HELP: call us", 1, at_ms(1200)}});
  CHECK(marked == std::vector<std::int64_t>{claimed[1].id, claimed[2].id});
  CHECK(raw.rows("SELECT contact_id, state, reason FROM messages WHERE direct_text IS NULL "
                 "ORDER BY contact_id") ==
        std::vector<std::string>{std::to_string(ids[0]) + "|suppressed|opted out",
                                 std::to_string(ids[1]) + "|suppressed|opted out",
                                 std::to_string(ids[2]) + "|submitting|"});
  CHECK(raw.rows("SELECT count(*) FROM send_ledger") == std::vector<std::string>{"2"});
}

TEST_CASE("status counts possible duplicates through their own index, not a scan of the queue") {
  temp_dir dir;
  auto path = dir.file("p.db");
  { sqlite_store::open(path); }
  raw_db raw(path);
  CHECK(plan_uses(raw, "SELECT count(*) FROM messages WHERE maybe_duplicate = 1",
                  "messages_maybe_duplicate"));
}

TEST_CASE("a reader sees what the writer committed, never blocks it, and refuses to write") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto writer = sqlite_store::open(path);
  auto ids = seed(*writer, 2);
  auto reader = sqlite_store::open_reader(path);
  CHECK(reader->status(at_ms(0)).by_state.at("scheduled") == 0);
  writer->enqueue({make_message("promo", "s1", ids[0], 1000)});
  CHECK(reader->status(at_ms(2000)).by_state.at("scheduled") == 1);
  // A read transaction left open on the reader does not hold up the writer (WAL).
  reader->transaction([&] {
    CHECK(reader->status(at_ms(2000)).by_state.at("scheduled") == 1);
    writer->enqueue({make_message("promo", "s1", ids[1], 1000)});
    CHECK(reader->status(at_ms(2000)).by_state.at("scheduled") == 1);  // its snapshot
  });
  CHECK(reader->status(at_ms(2000)).by_state.at("scheduled") == 2);
  CHECK_THROWS_AS(reader->enqueue({make_message("promo", "s1", ids[0], 5000)}), store_error);
  CHECK(writer->status(at_ms(2000)).by_state.at("scheduled") == 2);
}

TEST_CASE("a reader is refused on a database that is not at this binary's schema") {
  temp_dir dir;
  auto path = dir.file("p.db");
  { sqlite_store::open(path); }
  {
    raw_db raw(path);
    raw.exec("PRAGMA user_version = 7");
  }
  const auto expected = "expected " + std::to_string(sqlite::latest_schema_version());
  CHECK_THROWS_WITH_AS(sqlite_store::open_reader(path), doctest::Contains(expected.c_str()),
                       store_error);
  CHECK_THROWS_AS(sqlite_store::open_reader(dir.file("missing.db")), store_error);
}

TEST_CASE(
    "a flush of a hundred intents and outcomes marks and records every message once, on its "
    "own rows") {
  // As the dispatcher flushes them: every message is marked with its own body and ledger row, a
  // repeated intent adds nothing, and each outcome lands on its message and its ledger row.
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = sqlite_store::open(path);
  s->save_campaign(make_campaign("promo", "h1", {"s1"}));
  std::vector<contact> cs;
  for (int i = 0; i < 100; ++i) cs.push_back(make_contact("+86138000" + std::to_string(10000 + i)));
  auto ids = s->upsert_contacts(cs);
  std::vector<new_message> queued;
  for (auto id : ids) queued.push_back(make_message("promo", "s1", id, 1000));
  s->enqueue(queued);
  auto claimed = s->claim_due(at_ms(2000), 200, at_ms(60000), "a");
  REQUIRE(claimed.size() == 100);
  std::vector<submit_intent> intents;
  for (const auto& m : claimed)
    intents.push_back({m.id, "main", "body " + std::to_string(m.id), 1, at_ms(3000), {}});
  intents.push_back(intents[7]);  // a repeated intent marks nothing more
  auto marked = s->mark_submitting(intents);
  CHECK(marked.size() == 100);
  std::vector<send_outcome> outcomes;
  for (const auto& m : claimed) {
    outcomes.push_back({m.id, message_state::submitted, "main", "c" + std::to_string(m.id), "",
                        std::nullopt, at_ms(4000)});
  }
  outcomes[5].state = message_state::retry;  // one of them is retried instead
  outcomes[5].carrier_id.clear();
  outcomes[5].next_due = at_ms(9000);
  s->record_outcomes(outcomes);
  raw_db raw(path);
  CHECK(raw.rows("SELECT count(*) FROM messages WHERE state = 'submitted' AND body = 'body ' || id "
                 "AND carrier_id = 'c' || id AND attempts = 1 AND provider = 'main'") ==
        std::vector<std::string>{"99"});
  CHECK(raw.rows("SELECT count(*) FROM send_ledger l JOIN messages m ON m.id = l.message_id "
                 "WHERE l.outcome = 'submitted' AND l.carrier_id = 'c' || m.id AND l.attempt = 1 "
                 "AND l.contact_id = m.contact_id") == std::vector<std::string>{"99"});
  CHECK(raw.rows("SELECT m.state, m.due_at, l.outcome FROM messages m JOIN send_ledger l ON "
                 "l.message_id = m.id WHERE m.id = " +
                 std::to_string(claimed[5].id)) == std::vector<std::string>{"retry|9000|retry"});
  CHECK(raw.rows("SELECT count(*) FROM send_ledger") == std::vector<std::string>{"100"});
}
