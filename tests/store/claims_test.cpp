// Claims held in memory (engine/store/sqlite/claim_table.hpp): what the queue guarantees without a
// `leased` row write per message.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::temp_dir;

namespace {

// Campaign "promo" with `n` messages due at 1 s; returns the store.
std::unique_ptr<sqlite_store> queued(const std::string& path, int n) {
  auto s = sqlite_store::open(path);
  s->save_campaign(make_campaign("promo", "h1", {"s1"}));
  std::vector<contact> cs;
  for (int i = 0; i < n; ++i) cs.push_back(make_contact("+861380000000" + std::to_string(i)));
  std::vector<new_message> ms;
  for (auto id : s->upsert_contacts(cs)) ms.push_back(make_message("promo", "s1", id, 1000));
  s->enqueue(ms);
  return s;
}

// One value read by another connection, as `pigeon status` or an operator would.
std::string read_one(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void write(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace

TEST_CASE("a claim writes nothing, and a message held by one is not claimed again") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = queued(path, 3);
  auto before = read_one(path, "SELECT group_concat(state || updated_at) FROM messages");
  auto first = s->claim_due(at_ms(2000), 2, at_ms(60000), "engine");
  REQUIRE(first.size() == 2);
  CHECK(read_one(path, "SELECT group_concat(state || updated_at) FROM messages") == before);
  auto second = s->claim_due(at_ms(2000), 10, at_ms(60000), "engine");
  REQUIRE(second.size() == 1);
  CHECK(second[0].id != first[0].id);
  CHECK(second[0].id != first[1].id);
  CHECK(s->claim_due(at_ms(59000), 10, at_ms(60000), "engine").empty());
  CHECK_FALSE(s->next_due());  // nothing waits to be claimed
  // A clean stop ends the claims: the messages are claimable again at once.
  CHECK(s->release_leases("engine") == 3);
  CHECK(s->claim_due(at_ms(3000), 10, at_ms(60000), "engine").size() == 3);
}

TEST_CASE("a crash after the claim sends nothing twice and loses nothing") {
  temp_dir dir;
  auto path = dir.file("p.db");
  {
    auto s = queued(path, 3);
    REQUIRE(s->claim_due(at_ms(2000), 10, at_ms(600000), "dead").size() == 3);
    // kill -9 here: the claims die with the process.
  }
  CHECK(read_one(path, "SELECT group_concat(DISTINCT state) FROM messages") == "scheduled");
  CHECK(read_one(path, "SELECT count(*) FROM send_ledger") == "0");
  auto s = sqlite_store::open(path);
  auto [released, unknown] = s->recover_after_crash(at_ms(3000), std::chrono::seconds(0));
  CHECK(released == 0);
  CHECK(unknown == 0);
  // Claimable at once (no lease to wait out), none flagged as a possible duplicate.
  CHECK(s->claim_due(at_ms(3000), 10, at_ms(600000), "new").size() == 3);
  CHECK(s->status(at_ms(3000)).possible_duplicates == 0);
}

TEST_CASE("a crash after the intent recovers to retry, flagged as a possible duplicate") {
  temp_dir dir;
  auto path = dir.file("p.db");
  std::int64_t sent = 0;
  {
    auto s = queued(path, 2);
    auto claimed = s->claim_due(at_ms(2000), 10, at_ms(600000), "dead");
    REQUIRE(claimed.size() == 2);
    sent = claimed[0].id;
    REQUIRE(s->mark_submitting({{sent, "main", "hi", 1, at_ms(2100)}}).size() == 1);
  }
  CHECK(read_one(path, "SELECT state FROM messages WHERE id = " + std::to_string(sent)) ==
        "submitting");
  auto s = sqlite_store::open(path);
  CHECK(s->recover_after_crash(at_ms(3000), std::chrono::seconds(30)) ==
        std::pair<std::size_t, std::size_t>{0, 1});
  auto st = s->status(at_ms(3000));
  CHECK(st.by_state.at("retry") == 1);
  CHECK(st.by_state.at("scheduled") == 1);
  CHECK(st.possible_duplicates == 1);
  // The other message goes now; the unknown one only after the reconcile grace.
  auto now = s->claim_due(at_ms(3000), 10, at_ms(600000), "new");
  REQUIRE(now.size() == 1);
  CHECK(now[0].id != sent);
  auto later = s->claim_due(at_ms(33000), 10, at_ms(600000), "new");
  REQUIRE(later.size() == 1);
  CHECK(later[0].id == sent);
  CHECK(later[0].attempts == 1);
}

TEST_CASE("a pause or cancel since the claim is honoured at the intent") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = queued(path, 2);
  auto claimed = s->claim_due(at_ms(2000), 10, at_ms(600000), "engine");
  REQUIRE(claimed.size() == 2);
  REQUIRE(s->set_campaign_state("promo", "paused", at_ms(2050)));
  CHECK(s->mark_submitting({{claimed[0].id, "main", "hi", 1, at_ms(2100)}}).empty());
  CHECK(read_one(path, "SELECT count(*) FROM send_ledger") == "0");
  // Back in the queue, claimable once the campaign resumes.
  CHECK(s->claim_due(at_ms(2200), 10, at_ms(600000), "engine").empty());
  REQUIRE(s->set_campaign_state("promo", "active", at_ms(2300)));
  auto again = s->claim_due(at_ms(2400), 10, at_ms(600000), "engine");
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == claimed[0].id);
  // Cancelled while held: suppressed, never marked.
  REQUIRE(s->set_campaign_state("promo", "cancelled", at_ms(2500)));
  CHECK(s->mark_submitting({{claimed[1].id, "main", "hi", 1, at_ms(2600)},
                            {again[0].id, "main", "hi", 1, at_ms(2600)}})
            .empty());
  CHECK(read_one(path, "SELECT group_concat(DISTINCT state) FROM messages") == "suppressed");
}

TEST_CASE("a message whose row changed since its claim is not sent from that claim") {
  // e.g. an A/B decision switched its variant while it waited for its lane.
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = queued(path, 1);
  auto claimed = s->claim_due(at_ms(2000), 10, at_ms(600000), "engine");
  REQUIRE(claimed.size() == 1);
  write(path, "UPDATE messages SET variant = 'B'");
  CHECK(s->mark_submitting({{claimed[0].id, "main", "hi", 1, at_ms(2100)}}).empty());
  auto again = s->claim_due(at_ms(2200), 10, at_ms(600000), "engine");
  REQUIRE(again.size() == 1);
  CHECK(again[0].variant == "B");
  CHECK(s->mark_submitting({{again[0].id, "main", "hi B", 1, at_ms(2300)}}).size() == 1);
}

TEST_CASE("claims follow the transaction: a rollback forgets a claim or holds it again") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = queued(path, 1);
  // A claim in a transaction that fails (async_store: its batch's commit failed) never happened.
  CHECK_THROWS_AS(s->transaction([&] {
    REQUIRE(s->claim_due(at_ms(2000), 10, at_ms(600000), "engine").size() == 1);
    throw store_error("disk full");
  }),
                  store_error);
  auto claimed = s->claim_due(at_ms(2000), 10, at_ms(600000), "engine");
  REQUIRE(claimed.size() == 1);
  // An intent that fails to commit sent nothing: its message is held a short while (not the
  // whole lease), then claimable again.
  CHECK_THROWS_AS(s->transaction([&] {
    REQUIRE(s->mark_submitting({{claimed[0].id, "main", "hi", 1, at_ms(3000)}}).size() == 1);
    throw store_error("disk full");
  }),
                  store_error);
  CHECK(read_one(path, "SELECT state FROM messages") == "scheduled");
  CHECK(s->claim_due(at_ms(20000), 10, at_ms(600000), "engine").empty());
  auto again = s->claim_due(at_ms(34000), 10, at_ms(600000), "engine");
  REQUIRE(again.size() == 1);
  REQUIRE(s->mark_submitting({{again[0].id, "main", "hi", 1, at_ms(34100)}}).size() == 1);
  // A mark ends the claim: the old claim's holder cannot mark it a second time.
  CHECK(s->mark_submitting({{again[0].id, "main", "hi", 1, at_ms(34200)}}).empty());
  CHECK(read_one(path, "SELECT count(*) FROM send_ledger") == "1");
}
