// The survivors' watch over the other nodes (engine/store/postgres/node_watch.hpp): each node is
// its own postgres_store on one database, as each `pigeon serve` holds one.
#include <doctest/doctest.h>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/node_watch.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"
#include "tests/store/backends.hpp"
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

// A database with campaign "promo" and three messages due at 1 s; node "b" holds two of them (one
// `submitting`), and beat last at `b_beat`.
struct cluster_of_nodes {
  std::string url = pg_cluster::shared().create_database();
  std::unique_ptr<postgres_store> a = postgres_store::open(url);
  std::unique_ptr<postgres_store> b = postgres_store::open(url);
  std::vector<claimed_message> held;

  cluster_of_nodes() {
    a->save_campaign(make_campaign("promo", "h1", {"s1"}));
    auto ids = a->upsert_contacts({make_contact("+8613800000001"), make_contact("+8613800000002"),
                                   make_contact("+8613800000003")});
    std::vector<new_message> ms;
    for (auto id : ids) ms.push_back(make_message("promo", "s1", id, 1000));
    a->enqueue(ms);
    held = b->claim_due(at_ms(2000), 2, at_ms(600'000), "b");
    REQUIRE(held.size() == 2);
    REQUIRE(b->mark_submitting({{held[0].id, "main", "hi", 1, at_ms(2100)}}).size() == 1);
  }
  std::string state(std::int64_t id) {
    postgres::connection db(url);
    postgres::query q(db, "SELECT state || '|' || maybe_duplicate FROM messages WHERE id = $1");
    q.bind(1, id);
    return q.step() ? q.get_text(0) : "";
  }
};

time_point wall() { return postgres::from_ms(postgres::wall_clock_ms()); }

}  // namespace

TEST_CASE("a survivor recovers a node silent for 15 s once, and watches it again once it beats") {
  cluster_of_nodes n;
  const auto now = wall();
  n.a->heartbeat("a", now);
  n.b->heartbeat("b", now - 20s);
  // Not dead: silent for less than 15 s, or stopped cleanly (its leases were released then).
  n.a->heartbeat("quiet", now - 10s);
  n.a->heartbeat("gone", now - 60s);
  n.a->engine_stopped("gone", now - 60s);

  auto found = recover_silent_nodes(*n.a, "a", now, 15s, 2s);
  REQUIRE(found.size() == 1);
  CHECK(found[0].name == "b");
  CHECK(found[0].released == 1);
  CHECK(found[0].unknown == 1);
  CHECK(n.state(n.held[0].id) == "retry|1");  // its outcome unknown: resent after the grace
  CHECK(n.state(n.held[1].id) == "scheduled|0");
  n.a->engine_stopped("quiet", now);
  {
    postgres::connection db(n.url);
    postgres::query q(db, "SELECT recovered_by FROM engine_heartbeat WHERE owner = 'b'");
    REQUIRE(q.step());
    CHECK(q.get_text(0) == "a");
  }
  // Recovered once: the next watch passes it by.
  CHECK(recover_silent_nodes(*n.a, "a", now + 5s, 15s, 2s).empty());
  // It was cut off, not dead: it beats again, then falls silent again, and is recovered again.
  n.b->heartbeat("b", now + 1s);
  CHECK(recover_silent_nodes(*n.a, "a", now + 10s, 15s, 2s).empty());
  auto again = recover_silent_nodes(*n.a, "a", now + 20s, 15s, 2s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].name == "b");
  // A node never recovers itself, however silent (its own start does that).
  n.b->heartbeat("b", now + 1s);
  auto by_b = recover_silent_nodes(*n.b, "b", now + 60s, 15s, 2s);
  REQUIRE(by_b.size() == 1);
  CHECK(by_b[0].name == "a");
}

TEST_CASE("two survivors watching at once recover a dead node once") {
  cluster_of_nodes n;
  const auto now = wall();
  n.b->heartbeat("b", now - 20s);
  auto c = postgres_store::open(n.url);
  std::vector<recovered_node> first, second;
  // Survivor a is recovering b (its transaction open, b's row locked) while survivor c looks.
  n.a->transaction([&] {
    first = recover_silent_nodes(*n.a, "a", now, 15s, 2s);
    second = recover_silent_nodes(*c, "c", now, 15s, 2s);
  });
  REQUIRE(first.size() == 1);
  CHECK(first[0].name == "b");
  CHECK(second.empty());
  CHECK(recover_silent_nodes(*c, "c", now, 15s, 2s).empty());  // a committed: recovered
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
