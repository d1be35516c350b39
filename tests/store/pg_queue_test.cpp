// The PostgreSQL queue shared by several nodes (engine/store/postgres/queue.cpp): what only a
// shared backend has. Each node is its own postgres_store (its own connection) on one database,
// as two `pigeon serve` processes would be.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <set>
#include <thread>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"
#include "tests/store/fixture.hpp"
#include "tests/store/pg_cluster.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::postgres;
using namespace std::chrono_literals;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::pg_cluster;

namespace {

// Two nodes on one fresh database; campaign "promo" (steps s1, s2) and `contacts` recipients,
// each with a message of s1 due at 1 s.
struct two_nodes {
  std::string url = pg_cluster::shared().create_database();
  std::unique_ptr<postgres_store> a = postgres_store::open(url);
  std::unique_ptr<postgres_store> b = postgres_store::open(url);
  std::vector<std::int64_t> contacts;

  explicit two_nodes(int n) {
    a->save_campaign(make_campaign("promo", "h1", {"s1", "s2"}));
    std::vector<contact> cs;
    for (int i = 0; i < n; ++i) cs.push_back(make_contact("+86138" + std::to_string(10000000 + i)));
    contacts = a->upsert_contacts(cs);
    std::vector<new_message> ms;
    for (auto id : contacts) ms.push_back(make_message("promo", "s1", id, 1000));
    a->enqueue(ms);
  }

  // "state|lease_owner|maybe_duplicate" of message `id`, read by a third connection.
  std::string row(std::int64_t id) {
    postgres::connection db(url);
    postgres::query q(db,
                      "SELECT state || '|' || coalesce(lease_owner, '') || '|' || maybe_duplicate "
                      "FROM messages WHERE id = $1::bigint");
    q.bind(1, id);
    return q.step() ? q.get_text(0) : "";
  }
  std::int64_t count(const std::string& where) {
    postgres::connection db(url);
    return db.query_int("SELECT count(*) FROM messages WHERE " + where);
  }
};

}  // namespace

TEST_CASE("two nodes claiming at once from two threads never get the same message") {
  two_nodes n(300);
  std::vector<std::int64_t> got_a, got_b;
  std::latch start(2);
  auto drain = [&](postgres_store& s, const std::string& owner, std::vector<std::int64_t>& got) {
    start.arrive_and_wait();
    for (int round = 0; round < 200; ++round) {  // bounded: 300 messages, 7 per claim
      auto claimed = s.claim_due(at_ms(2000), 7, at_ms(600'000), owner);
      if (claimed.empty()) break;
      for (const auto& m : claimed) got.push_back(m.id);
    }
  };
  std::thread ta([&] { drain(*n.a, "node-a", got_a); });
  std::thread tb([&] { drain(*n.b, "node-b", got_b); });
  ta.join();
  tb.join();
  CHECK(got_a.size() + got_b.size() == 300);
  std::set<std::int64_t> all(got_a.begin(), got_a.end());
  all.insert(got_b.begin(), got_b.end());
  CHECK(all.size() == 300);  // no message claimed twice
  CHECK_FALSE(got_a.empty());
  CHECK_FALSE(got_b.empty());
  CHECK(n.count("state = 'leased' AND lease_owner = 'node-a'") ==
        static_cast<std::int64_t>(got_a.size()));
  CHECK(n.count("state = 'leased' AND lease_owner = 'node-b'") ==
        static_cast<std::int64_t>(got_b.size()));
}

TEST_CASE("another node's expired lease is claimed again, and its first holder cannot mark it") {
  two_nodes n(1);
  auto first = n.a->claim_due(at_ms(1000), 10, at_ms(31'000), "node-a");
  REQUIRE(first.size() == 1);
  const auto id = first[0].id;
  CHECK(n.b->claim_due(at_ms(31'000), 10, at_ms(61'000), "node-b").empty());  // still held
  auto again = n.b->claim_due(at_ms(31'001), 10, at_ms(61'001), "node-b");
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == id);
  CHECK(n.row(id) == "leased|node-b|0");
  // Node A woke up late: the message is node B's now.
  CHECK(n.a->mark_submitting({{id, "main", "hi", 1, at_ms(31'100)}}).empty());
  CHECK(n.b->mark_submitting({{id, "main", "hi", 1, at_ms(31'100)}}) ==
        std::vector<std::int64_t>{id});
  CHECK(n.row(id) == "submitting|node-b|0");
  // A node marks only before its own lease runs out.
  n.a->enqueue({make_message("promo", "s2", n.contacts[0], 40'000)});
  auto late = n.a->claim_due(at_ms(40'000), 10, at_ms(50'000), "node-a");
  REQUIRE(late.size() == 1);
  CHECK(n.a->mark_submitting({{late[0].id, "main", "hi", 1, at_ms(50'001)}}).empty());
  CHECK(n.row(late[0].id) == "leased|node-a|0");
}

TEST_CASE("a cap of 1 per day holds when two nodes mark intents for one recipient at once") {
  // Two campaigns target one recipient; each node claimed one of the two messages. Node A's
  // intent is written but not yet committed when node B decides: B must wait for it and count
  // it, not decide on the ledger as it was.
  two_nodes n(1);
  n.a->save_campaign(make_campaign("other", "h2", {"s1"}));
  n.a->enqueue({make_message("other", "s1", n.contacts[0], 1000)});
  auto on_a = n.a->claim_due(at_ms(2000), 1, at_ms(600'000), "node-a");
  auto on_b = n.b->claim_due(at_ms(2000), 1, at_ms(600'000), "node-b");
  REQUIRE(on_a.size() == 1);
  REQUIRE(on_b.size() == 1);
  const cap_rule one_per_day{"active 1 per 1d", 1, 24h};
  std::latch a_marked(1);
  std::atomic<bool> b_done{false};
  std::vector<std::int64_t> marked_a, marked_b;
  std::thread ta([&] {
    n.a->transaction([&] {
      marked_a = n.a->mark_submitting({{on_a[0].id, "main", "hi", 1, at_ms(3000), {one_per_day}}});
      a_marked.count_down();
      // Holds the transaction open while node B decides (bounded: B waits on the contact lock).
      for (int i = 0; i < 30 && !b_done; ++i) std::this_thread::sleep_for(10ms);
    });
  });
  std::thread tb([&] {
    a_marked.wait();
    marked_b = n.b->mark_submitting({{on_b[0].id, "main", "hi", 1, at_ms(3000), {one_per_day}}});
    b_done = true;
  });
  ta.join();
  tb.join();
  CHECK(marked_a.size() == 1);
  CHECK(marked_b.empty());
  CHECK(n.count("state = 'submitting'") == 1);
  CHECK(n.row(on_b[0].id) == "deferred||0");
}

TEST_CASE("many races for one capped recipient between two nodes send exactly one message") {
  // Two threads, two nodes, 20 recipients each targeted by two campaigns: whatever the timing,
  // one message per recipient is marked.
  two_nodes n(20);
  n.a->save_campaign(make_campaign("other", "h2", {"s1"}));
  std::vector<new_message> ms;
  for (auto id : n.contacts) ms.push_back(make_message("other", "s1", id, 1000));
  n.a->enqueue(ms);
  const cap_rule one_per_day{"active 1 per 1d", 1, 24h};
  std::latch start(2);
  std::atomic<std::size_t> marked{0};
  auto node = [&](postgres_store& s, const std::string& owner) {
    start.arrive_and_wait();
    for (int round = 0; round < 100; ++round) {  // bounded: 40 messages, 2 per claim
      auto claimed = s.claim_due(at_ms(2000), 2, at_ms(600'000), owner);
      if (claimed.empty()) break;
      std::vector<submit_intent> intents;
      for (const auto& m : claimed)
        intents.push_back({m.id, "main", "hi", 1, at_ms(3000), {one_per_day}});
      marked += s.mark_submitting(intents).size();
    }
  };
  std::thread ta([&] { node(*n.a, "node-a"); });
  std::thread tb([&] { node(*n.b, "node-b"); });
  ta.join();
  tb.join();
  CHECK(marked == 20);
  CHECK(n.count("state = 'submitting'") == 20);
  CHECK(n.count("state = 'deferred'") == 20);
  postgres::connection db(n.url);
  CHECK(db.query_int("SELECT count(*) FROM (SELECT contact_id FROM messages WHERE state = "
                     "'submitting' GROUP BY contact_id HAVING count(*) > 1) x") == 0);
}

TEST_CASE("recovering a dead node flags its submitting messages and leaves a live node's alone") {
  two_nodes n(4);
  auto dead = n.a->claim_due(at_ms(2000), 2, at_ms(600'000), "node-a");
  auto live = n.b->claim_due(at_ms(2000), 2, at_ms(600'000), "node-b");
  REQUIRE(dead.size() == 2);
  REQUIRE(live.size() == 2);
  REQUIRE(n.a->mark_submitting({{dead[0].id, "main", "hi", 1, at_ms(2100)}}).size() == 1);
  REQUIRE(n.b->mark_submitting({{live[0].id, "main", "hi", 1, at_ms(2100)}}).size() == 1);
  CHECK(n.row(dead[0].id) == "submitting|node-a|0");  // whose outcome it awaits
  auto wall = postgres::from_ms(postgres::wall_clock_ms());
  n.b->heartbeat("node-b", wall);
  n.a->heartbeat("node-a", wall);  // node A beats once more, then dies

  // A survivor recovers node A by name: its lease is claimable at once, its unknown outcome
  // waits for the grace and is flagged.
  CHECK(n.b->recover_owner("node-a", at_ms(5000), 30s) ==
        std::pair<std::size_t, std::size_t>{1, 1});
  CHECK(n.row(dead[0].id) == "retry||1");
  CHECK(n.row(dead[1].id) == "scheduled||0");
  CHECK(n.row(live[0].id) == "submitting|node-b|0");
  CHECK(n.row(live[1].id) == "leased|node-b|0");
  postgres::connection db(n.url);
  CHECK(
      db.query_int("SELECT count(*) FROM send_ledger WHERE outcome = 'unknown' AND message_id = " +
                   std::to_string(dead[0].id)) == 1);
  auto now = n.b->claim_due(at_ms(5000), 10, at_ms(600'000), "node-b");
  REQUIRE(now.size() == 1);
  CHECK(now[0].id == dead[1].id);
  auto later = n.b->claim_due(at_ms(35'000), 10, at_ms(600'000), "node-b");
  REQUIRE(later.size() == 1);
  CHECK(later[0].id == dead[0].id);
  CHECK(later[0].attempts == 1);
}

TEST_CASE("recovery after a crash takes the rows of owners that are not alive, by heartbeat") {
  two_nodes n(5);
  // Owners: alive (beat now), silent (last beat 20 s ago), stopped, never beat, and none.
  const std::vector<std::string> owners = {"alive", "silent", "stopped", "unknown"};
  std::vector<std::int64_t> ids;
  for (const auto& owner : owners) {
    auto claimed = n.a->claim_due(at_ms(2000), 1, at_ms(600'000), owner);
    REQUIRE(claimed.size() == 1);
    REQUIRE(n.a->mark_submitting({{claimed[0].id, "main", "hi", 1, at_ms(2100)}}).size() == 1);
    ids.push_back(claimed[0].id);
  }
  auto wall = postgres::wall_clock_ms();
  n.a->heartbeat("alive", postgres::from_ms(wall));
  n.a->heartbeat("silent", postgres::from_ms(wall - 20'000));
  n.a->heartbeat("stopped", postgres::from_ms(wall));
  n.a->engine_stopped("stopped", postgres::from_ms(wall));
  {
    postgres::connection db(n.url);  // a row an older pigeon or `db copy` left without owner
    db.exec(
        "UPDATE messages SET state = 'leased', lease_until = 600000 WHERE lease_owner IS NULL "
        "AND state = 'scheduled'");
  }
  CHECK(n.b->recover_after_crash(at_ms(5000), 0ms) == std::pair<std::size_t, std::size_t>{1, 3});
  CHECK(n.row(ids[0]) == "submitting|alive|0");
  CHECK(n.row(ids[1]) == "retry||1");
  CHECK(n.row(ids[2]) == "retry||1");
  CHECK(n.row(ids[3]) == "retry||1");
  CHECK(n.count("state = 'scheduled'") == 1);
}

TEST_CASE(
    "a node whose connection the server dropped reconnects at its next call, losing nothing") {
  two_nodes n(5);
  REQUIRE(n.a->count_pending() == 5);
  // The server ends node a's session, as a restart or a failover would.
  postgres::connection admin(n.url);
  CHECK(admin.query_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid()") >= 1);
  // Node a's next call runs on a new connection, with what was stored before the drop; its
  // prepared statements and session settings are made again.
  CHECK(n.a->count_pending() == 5);
  auto claimed = n.a->claim_due(at_ms(2000), 10, at_ms(62000), "a");
  CHECK(claimed.size() == 5);
  CHECK(n.b->count_pending() == 5);  // node b's connection was dropped too, and came back
}
