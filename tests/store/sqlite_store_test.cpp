#include "engine/store/sqlite/sqlite_store.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/store/sqlite/migrations.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::temp_dir;

namespace {

// A store with campaign "promo" (step s1) and two contacts; returns the contacts' ids.
std::vector<std::int64_t> seed(store& s, int contacts = 2) {
  s.save_campaign(make_campaign("promo", "h1", {"s1", "s2"}));
  std::vector<contact> cs;
  for (int i = 0; i < contacts; ++i)
    cs.push_back(make_contact("+861380000000" + std::to_string(i)));
  return s.upsert_contacts(cs);
}

message_row only_message(store& s) {
  auto rows = s.messages({});
  REQUIRE(rows.size() == 1);
  return rows.front();
}

}  // namespace

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

STORE_TEST_CASE("upserting a contact by phone updates it and keeps its id") {
  store_backend backend;
  store* s = backend.open();
  auto first = s->upsert_contacts({make_contact("+8613800000000")});
  auto changed = make_contact("+8613800000000");
  changed.tags = {"staff"};
  auto second = s->upsert_contacts({changed, make_contact("+8613800000001")});
  CHECK(second[0] == first[0]);
  CHECK(second[1] != first[0]);
  CHECK(s->find_contact("+8613800000000")->tags == std::vector<std::string>{"staff"});
  int n = 0;
  s->for_each_contact([&](const contact&) { ++n; });
  CHECK(n == 2);
}

STORE_TEST_CASE("enqueueing the same campaign, step and contact twice stores one message") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  CHECK(s->enqueue({make_message("promo", "s1", ids[0], 1000)}) == 1);
  CHECK(s->enqueue({make_message("promo", "s1", ids[0], 5000),
                    make_message("promo", "s1", ids[1], 1000)}) == 1);
  CHECK(s->messages({}).size() == 2);
  CHECK(s->messages({})[0].due == at_ms(1000));
}

STORE_TEST_CASE(
    "enqueueing hundreds of messages at once stores each once, in order, new ones counted") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 700);
  CHECK(s->enqueue({make_message("promo", "s1", ids[10], 42)}) == 1);
  std::vector<new_message> batch;
  for (int i = 0; i < 700; ++i) {
    auto m = make_message("promo", "s1", ids[static_cast<std::size_t>(i)], 1000 + i);
    if (i % 7 == 3) m.suppressed_reason = "holdout";
    batch.push_back(std::move(m));
  }
  batch.push_back(make_message("promo", "s1", ids[500], 1));  // a repeat inside the batch
  // 700 new, contact 10 was already queued, the repeat of contact 500 is not stored again.
  CHECK(s->enqueue(batch) == 699);
  auto rows = s->messages({});
  REQUIRE(rows.size() == 700);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  CHECK(rows[0].due == at_ms(42));  // the earlier message of contact 10 is kept as it was
  for (std::size_t k = 1; k < rows.size(); ++k) {
    int i = static_cast<int>(k <= 10 ? k - 1 : k);  // batch order, contact 10 skipped
    CHECK(rows[k].phone == "+861380000000" + std::to_string(i));
    CHECK(rows[k].due == at_ms(1000 + i));
    CHECK(rows[k].state == (i % 7 == 3 ? message_state::suppressed : message_state::scheduled));
    CHECK(rows[k].reason == (i % 7 == 3 ? "holdout" : ""));
  }
}

STORE_TEST_CASE(
    "claim returns the oldest due first, respects the limit and skips what is not due") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 4);
  s->enqueue({make_message("promo", "s1", ids[0], 3000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 2000),
              make_message("promo", "s1", ids[3], 9000)});
  auto claimed = s->claim_due(at_ms(5000), 2, at_ms(65000), "engine-a");
  REQUIRE(claimed.size() == 2);
  CHECK(claimed[0].due == at_ms(1000));
  CHECK(claimed[1].due == at_ms(2000));
  CHECK(claimed[0].template_found);
  CHECK(claimed[0].tmpl.text == "hello s1 h1");
  CHECK(claimed[0].sender == "coffee");
  CHECK(claimed[0].category == "marketing");
  CHECK(claimed[0].campaign_version == 1);
  CHECK(claimed[0].recipient.phone == "+8613800000001");
  CHECK(claimed[0].recipient.attributes.at("first_name").as_string() == "Li");
  auto rest = s->claim_due(at_ms(5000), 10, at_ms(65000), "engine-a");
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].due == at_ms(3000));
  CHECK(s->claim_due(at_ms(5000), 10, at_ms(65000), "engine-a").empty());
  CHECK(s->status(at_ms(5000)).by_state.at("leased") == 3);
  CHECK(s->next_due() == at_ms(9000));
}

STORE_TEST_CASE("claim skips paused and cancelled campaigns") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->save_campaign(make_campaign("other", "x"));
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("other", "s1", ids[0], 1000)});
  CHECK(s->set_campaign_state("promo", "paused", at_ms(1)));
  auto claimed = s->claim_due(at_ms(5000), 10, at_ms(65000), "a");
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].campaign == "other");
  CHECK_FALSE(s->next_due());
  CHECK(s->set_campaign_state("promo", "active", at_ms(2)));
  CHECK(s->claim_due(at_ms(5000), 10, at_ms(65000), "a").size() == 1);
  CHECK_FALSE(s->set_campaign_state("nope", "paused", at_ms(3)));
  CHECK_THROWS_AS(s->set_campaign_state("promo", "sleeping", at_ms(3)), store_error);
}

STORE_TEST_CASE("an expired lease is reclaimed by another owner and an unexpired one is not") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  REQUIRE(s->claim_due(at_ms(1000), 10, at_ms(31000), "a").size() == 1);
  CHECK(s->claim_due(at_ms(30000), 10, at_ms(60000), "b").empty());
  auto reclaimed = s->claim_due(at_ms(31001), 10, at_ms(61001), "b");
  CHECK(reclaimed.size() == 1);
}

STORE_TEST_CASE("a message in a final state never changes") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(2000), "a").at(0).id;
  s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}});
  s->record_outcomes(
      {{id, message_state::submitted, "main", "C-1", "", std::nullopt, at_ms(1200)}});
  s->record_outcomes({{id, message_state::delivered, "main", "", "", std::nullopt, at_ms(1300)}});
  s->record_outcomes({{id, message_state::failed, "main", "", "late", std::nullopt, at_ms(1400)},
                      {id, message_state::retry, "main", "", "x", at_ms(9000), at_ms(1400)}});
  auto row = only_message(*s);
  CHECK(row.state == message_state::delivered);
  CHECK(row.carrier_id == "C-1");
  CHECK(row.sent_at == at_ms(1200));
  CHECK(row.attempts == 1);
}

STORE_TEST_CASE("a submitted message does not move back to retry") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(2000), "a").at(0).id;
  s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}});
  s->record_outcomes(
      {{id, message_state::submitted, "main", "C-1", "", std::nullopt, at_ms(1200)}});
  s->record_outcomes({{id, message_state::retry, "main", "", "x", at_ms(9000), at_ms(1300)}});
  CHECK(only_message(*s).state == message_state::submitted);
}

STORE_TEST_CASE("retry and deferred outcomes set the next due time and release the lease") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000)});
  auto claimed = s->claim_due(at_ms(1000), 10, at_ms(60000), "a");
  REQUIRE(claimed.size() == 2);
  s->mark_submitting({{claimed[0].id, "main", "hello", 1, at_ms(1100)}});
  s->record_outcomes(
      {{claimed[0].id, message_state::retry, "main", "", "503 busy", at_ms(5000), at_ms(1200)},
       {claimed[1].id, message_state::deferred, "", "", "quiet hours", at_ms(7000), at_ms(1200)}});
  CHECK(s->messages({"promo", message_state::retry, 0}).size() == 1);
  CHECK(s->messages({"promo", message_state::deferred, 0}).size() == 1);
  CHECK(s->next_due() == at_ms(5000));
  auto again = s->claim_due(at_ms(10000), 10, at_ms(70000), "a");
  REQUIRE(again.size() == 2);
  CHECK(again[0].id == claimed[0].id);
  CHECK(again[0].attempts == 1);
  CHECK(again[1].attempts == 0);
  // Held by a claim again (SQLite keeps claims in memory and the rows' waiting states, the
  // shared backend leases the rows): status counts them leased either way.
  CHECK(s->status(at_ms(10000)).by_state.at("leased") == 2);
  CHECK(s->claim_due(at_ms(10000), 10, at_ms(70000), "a").empty());
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

STORE_TEST_CASE("campaign versions follow the content hash and claims use the current templates") {
  store_backend backend;
  store* s = backend.open();
  CHECK(s->save_campaign(make_campaign("promo", "h1", {"s1", "s2"})) == 1);
  CHECK(s->save_campaign(make_campaign("promo", "h1", {"s1", "s2"})) == 1);
  auto ids = s->upsert_contacts({make_contact("+8613800000000")});
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s2", ids[0], 1000)});
  s->set_campaign_state("promo", "paused", at_ms(1));
  CHECK(s->save_campaign(make_campaign("promo", "h2", {"s1"})) == 2);
  auto found = s->find_campaign("promo");
  REQUIRE(found);
  CHECK(found->version == 2);
  CHECK(found->state == "paused");  // a new version keeps the lifecycle state
  REQUIRE(found->templates.size() == 1);
  CHECK(found->templates[0].text == "hello s1 h2");
  CHECK(s->list_campaigns().size() == 1);
  s->set_campaign_state("promo", "active", at_ms(2));
  auto claimed = s->claim_due(at_ms(2000), 10, at_ms(60000), "a");
  REQUIRE(claimed.size() == 2);
  for (const auto& m : claimed) {
    CHECK(m.campaign_version == 2);
    if (m.step == "s1") {
      CHECK(m.template_found);
      CHECK(m.tmpl.text == "hello s1 h2");
    } else {
      CHECK_FALSE(m.template_found);
    }
  }
  CHECK_FALSE(s->find_campaign("missing"));
}

STORE_TEST_CASE("cancelling a campaign suppresses its unfinished messages") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 9000)});
  auto claimed = s->claim_due(at_ms(1000), 1, at_ms(60000), "a");
  s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1100)}});
  s->record_outcomes({{claimed[0].id, message_state::submitted, "main", "C", "", {}, at_ms(1200)}});
  CHECK(s->count_pending() == 2);
  CHECK(s->set_campaign_state("promo", "cancelled", at_ms(2000)));
  auto status = s->status(at_ms(2000));
  CHECK(status.by_state.at("suppressed") == 2);
  CHECK(status.by_state.at("submitted") == 1);
  CHECK(s->count_pending() == 0);
  for (const auto& row : s->messages({"", message_state::suppressed, 0}))
    CHECK(row.reason == "campaign cancelled");
}

STORE_TEST_CASE("status counts every state, per campaign, and reports heartbeat and contacts") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s2", ids[0], 9000)});
  s->heartbeat("engine-a", at_ms(1500));
  auto st = s->status(at_ms(2000));
  CHECK(st.by_state.size() == std::size(all_states));
  CHECK(st.by_state.at("scheduled") == 2);
  CHECK(st.by_state.at("expired") == 0);
  REQUIRE(st.campaigns.size() == 1);
  CHECK(st.campaigns[0].name == "promo");
  CHECK(st.campaigns[0].version == 1);
  CHECK(st.campaigns[0].state == "active");
  CHECK(st.campaigns[0].by_state.at("scheduled") == 2);
  CHECK(st.oldest_due == at_ms(1000));
  CHECK(st.engine_heartbeat == at_ms(1500));
  CHECK(st.engine_owner == "engine-a");
  CHECK(st.contacts == 2);
  CHECK(s->messages({"", std::nullopt, 1}).size() == 1);
}

STORE_TEST_CASE("a store error inside transaction() rolls back the whole transaction") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  CHECK_THROWS_AS(s->transaction([&] {
    s->enqueue({make_message("promo", "s1", ids[0], 1000)});
    s->enqueue({make_message("no-such-campaign", "s1", ids[0], 1000)});  // foreign key
  }),
                  store_error);
  CHECK(s->messages({}).empty());
  s->transaction([&] {
    CHECK_THROWS_AS(s->enqueue({make_message("promo", "s1", ids[0], 1000),
                                make_message("promo", "s1", 999, 1000)}),
                    store_error);
    s->enqueue({make_message("promo", "s2", ids[0], 1000)});
  });
  CHECK(s->messages({}).size() == 1);  // the failed enqueue left nothing half-done
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

STORE_TEST_CASE("status tells a cleanly stopped engine from a running one") {
  store_backend backend;
  store* s = backend.open();
  CHECK_FALSE(s->status(at_ms(1000)).engine_heartbeat);
  s->heartbeat("pid-1", at_ms(1000));
  auto running = s->status(at_ms(2000));
  CHECK(running.engine_owner == "pid-1");
  CHECK(running.engine_heartbeat == at_ms(1000));
  CHECK_FALSE(running.engine_stopped_at);
  s->engine_stopped("pid-1", at_ms(3000));
  CHECK(s->status(at_ms(4000)).engine_stopped_at == at_ms(3000));
  s->heartbeat("pid-1", at_ms(5000));  // the same owner running again clears the stop
  CHECK_FALSE(s->status(at_ms(6000)).engine_stopped_at);
}

STORE_TEST_CASE("status lists the engine with its pid, heartbeat and lane detail") {
  store_backend backend;
  store* s = backend.open();
  CHECK(s->status(at_ms(500)).nodes.empty());
  s->heartbeat("pid-1", at_ms(1000));
  s->heartbeat_detail("pid-1", R"([{"name":"main"}])");
  auto st = s->status(at_ms(2000));
  REQUIRE(st.nodes.size() == 1);
  CHECK(st.nodes[0].name == "pid-1");
  CHECK(st.nodes[0].pid == static_cast<std::int64_t>(::getpid()));
  CHECK(st.nodes[0].heartbeat == at_ms(1000));
  CHECK_FALSE(st.nodes[0].stopped_at);
  CHECK(st.nodes[0].detail == R"([{"name":"main"}])");
  s->engine_stopped("pid-1", at_ms(3000));
  CHECK(s->status(at_ms(4000)).nodes.at(0).stopped_at == at_ms(3000));
}

TEST_CASE("status lists every node sharing a PostgreSQL database, with its heartbeat") {
  pigeon::engine::test::postgres_backend backend;
  store* s = backend.open();
  s->heartbeat("node-b", at_ms(1000));
  s->heartbeat_detail("node-b", R"([{"name":"bulk"}])");
  s->heartbeat("node-a", at_ms(1200));
  s->heartbeat_detail("node-a", R"([{"name":"main"}])");
  auto st = s->status(at_ms(1500));
  REQUIRE(st.nodes.size() == 2);
  CHECK(st.nodes[0].name == "node-a");
  CHECK(st.nodes[0].heartbeat == at_ms(1200));
  CHECK(st.nodes[0].detail == R"([{"name":"main"}])");
  CHECK(st.nodes[1].name == "node-b");
  CHECK(st.nodes[1].heartbeat == at_ms(1000));
  CHECK(st.nodes[1].detail == R"([{"name":"bulk"}])");
  CHECK(st.engine_owner == "node-a");
  // node-a stops cleanly after node-b's last beat: the engine shown is node-b, still running.
  s->heartbeat("node-b", at_ms(2000));
  s->heartbeat("node-a", at_ms(2100));
  s->engine_stopped("node-a", at_ms(2200));
  st = s->status(at_ms(2300));
  CHECK(st.nodes.at(0).stopped_at == at_ms(2200));
  CHECK_FALSE(st.nodes.at(1).stopped_at);
  CHECK(st.engine_owner == "node-b");
  CHECK(st.engine_heartbeat == at_ms(2000));
  CHECK_FALSE(st.engine_stopped_at);
  // A second store (another node's connection) sees both too.
  CHECK(backend.reopen()->status(at_ms(2300)).nodes.size() == 2);
}

STORE_TEST_CASE("a message cancelled or paused after its claim is not marked for sending") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(60000), "a").at(0).id;

  REQUIRE(s->set_campaign_state("promo", "paused", at_ms(1050)));
  CHECK(s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}}).empty());
  CHECK(only_message(*s).state == message_state::scheduled);  // back in the queue

  REQUIRE(s->set_campaign_state("promo", "active", at_ms(1200)));
  id = s->claim_due(at_ms(1300), 1, at_ms(60000), "a").at(0).id;
  REQUIRE(s->set_campaign_state("promo", "cancelled", at_ms(1350)));
  CHECK(s->mark_submitting({{id, "main", "hello", 1, at_ms(1400)}}).empty());
  auto row = only_message(*s);
  CHECK(row.state == message_state::suppressed);
  CHECK(row.attempts == 0);
}

STORE_TEST_CASE("mark_submitting returns the messages it marked") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(60000), "a").at(0).id;
  CHECK(s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}}) ==
        std::vector<std::int64_t>{id});
  CHECK(only_message(*s).state == message_state::submitting);
}

STORE_TEST_CASE("the message log can leave out paused and cancelled campaigns") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  message_filter active{
      .campaign = {}, .state = std::nullopt, .limit = 0, .active_campaigns_only = true};
  CHECK(s->messages(active).size() == 1);
  REQUIRE(s->set_campaign_state("promo", "paused", at_ms(1100)));
  CHECK(s->messages(active).empty());
  CHECK(s->messages({}).size() == 1);
}

STORE_TEST_CASE("the message log can be narrowed to one recipient") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000)});
  message_filter one;
  one.phone = "+8613800000001";
  auto rows = s->messages(one);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].phone == "+8613800000001");
  one.phone = "+8613800000009";
  CHECK(s->messages(one).empty());
}
