// Conformance suite of journey_store (engine/store/journey_store.hpp), run on every backend, and
// its races on PostgreSQL: two nodes entering and rolling over one journey at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "engine/campaign/apply.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/store/postgres/connection.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::campaign;
using namespace pigeon::engine::postgres;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::day_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::t0;

namespace {

// Campaign "bday" (steps s1, s2) and `n` contacts; returns their ids.
std::vector<std::int64_t> seed(store& s, int n) {
  s.save_campaign(make_campaign("bday", "h1", {"s1", "s2"}));
  std::vector<contact> people;
  for (int i = 0; i < n; ++i)
    people.push_back(make_contact("+8613800000" + std::to_string(100 + i)));
  return s.upsert_contacts(people);
}

std::vector<new_message> occurrence_messages(std::int64_t contact_id, const std::string& occurrence,
                                             std::int64_t due) {
  std::vector<new_message> out;
  for (const char* step : {"s1", "s2"}) {
    new_message m{"bday", step, "A", contact_id, at_ms(due), std::nullopt};
    m.occurrence = occurrence;
    out.push_back(m);
  }
  return out;
}

std::set<std::int64_t> selected(store& s, const journey_query& q) {
  std::set<std::int64_t> ids;
  s.for_each_journey_contact(q, [&](const contact& c) { ids.insert(c.id); });
  return ids;
}

}  // namespace

STORE_TEST_CASE(
    "a journey occurrence is entered once with its messages, whatever re-evaluates it") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 1);
  CHECK_FALSE(s->last_journey_entry("bday", ids[0]));
  CHECK(s->enter_journey("bday", ids[0], "2030-01-07", at_ms(t0),
                         occurrence_messages(ids[0], "2030-01-07", t0)));
  CHECK_FALSE(s->enter_journey("bday", ids[0], "2030-01-07", at_ms(t0 + 1000),
                               occurrence_messages(ids[0], "2030-01-07", t0 + 1000)));
  CHECK(s->messages({"bday", std::nullopt, 0}).size() == 2);
  CHECK(s->last_journey_entry("bday", ids[0]) == at_ms(t0));
  // Next year's occurrence is a new entry with its own messages.
  CHECK(s->enter_journey("bday", ids[0], "2031-01-07", at_ms(t0 + 365 * day_ms),
                         occurrence_messages(ids[0], "2031-01-07", t0 + 365 * day_ms)));
  CHECK(s->messages({"bday", std::nullopt, 0}).size() == 4);
  CHECK(s->last_journey_entry("bday", ids[0]) == at_ms(t0 + 365 * day_ms));
}

STORE_TEST_CASE("a batch of entries says which were entered and queues only their messages") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  CHECK(s->enter_journey("bday", ids[1], "2030-01-07", at_ms(t0),
                         occurrence_messages(ids[1], "2030-01-07", t0)));
  // ids[1] entered before; ids[2] twice in the batch: its first entry is the one stored.
  auto entered =
      s->enter_journeys("bday",
                        {{ids[0], "2030-01-07", occurrence_messages(ids[0], "2030-01-07", t0)},
                         {ids[1], "2030-01-07", occurrence_messages(ids[1], "2030-01-07", t0)},
                         {ids[2], "2030-01-07", occurrence_messages(ids[2], "2030-01-07", t0)},
                         {ids[2], "2030-01-07", occurrence_messages(ids[2], "2030-01-07", t0)},
                         {ids[2], "2031-01-07", {}}},
                        at_ms(t0 + 1000));
  CHECK(entered == std::vector<bool>{true, false, true, false, true});
  CHECK(s->messages({"bday", std::nullopt, 0}).size() == 6);
  CHECK(s->last_journey_entry("bday", ids[2]) == at_ms(t0 + 1000));
  CHECK(s->last_journey_entry("bday", ids[1]) == at_ms(t0));
}

STORE_TEST_CASE("a rollover reads only the zone's contacts whose trigger date is due") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 5);
  s->set_journey_dates("bday",
                       {{ids[0], "Asia/Shanghai", 1, 7, "1990-01-07", std::nullopt},
                        {ids[1], "Asia/Shanghai", 1, 8, "1991-01-08", std::nullopt},
                        {ids[2], "Asia/Shanghai", 2, 7, "1992-02-07", std::nullopt},
                        {ids[3], "Europe/Berlin", 1, 7, "1993-01-07", std::nullopt},
                        {ids[4], "Asia/Shanghai", 0, 0, "", at_ms(t0 + day_ms)}},
                       {});
  CHECK(s->journey_zones("bday") == std::vector<std::string>{"Asia/Shanghai", "Europe/Berlin"});
  journey_query q{"bday", "Asia/Shanghai", 1, {7}, "", std::nullopt};
  CHECK(selected(*s, q) == std::set<std::int64_t>{ids[0]});
  q.days = {7, 8};
  CHECK(selected(*s, q) == std::set<std::int64_t>{ids[0], ids[1]});
  q.month = 0;  // any month, days 7 and 8: contacts without a date are not read
  CHECK(selected(*s, q) == std::set<std::int64_t>{ids[0], ids[1], ids[2]});
  journey_query once{"bday", "Asia/Shanghai", 0, {}, "1992-02-07", std::nullopt};
  CHECK(selected(*s, once) == std::set<std::int64_t>{ids[2]});
  journey_query due{"bday", "Asia/Shanghai", 0, {}, "", at_ms(t0)};
  CHECK(selected(*s, due).empty());
  due.due_by = at_ms(t0 + day_ms);
  CHECK(selected(*s, due) == std::set<std::int64_t>{ids[4]});
  journey_query zone{"bday", "Europe/Berlin", 0, {}, "", std::nullopt};
  CHECK(selected(*s, zone) == std::set<std::int64_t>{ids[3]});

  // A contact's row is replaced by its new one; a removed contact is no longer read.
  s->set_journey_dates("bday", {{ids[1], "Europe/Berlin", 1, 8, "1991-01-08", std::nullopt}},
                       {ids[3]});
  CHECK(selected(*s, zone) == std::set<std::int64_t>{ids[1]});
  q.month = 1;
  CHECK(selected(*s, q) == std::set<std::int64_t>{ids[0]});
  CHECK(s->journey_statistics("bday", at_ms(t0)).indexed == 4);
}

STORE_TEST_CASE("who matched an enters journey is read back sorted and updated in place") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  CHECK(s->journey_matching("bday").empty());
  s->set_journey_matching("bday", {{ids[2], true}, {ids[0], true}, {ids[1], false}});
  CHECK(s->journey_matching("bday") == std::vector<std::int64_t>{ids[0], ids[2]});
  s->set_journey_matching("bday", {{ids[0], false}, {ids[1], true}});
  CHECK(s->journey_matching("bday") == std::vector<std::int64_t>{ids[1], ids[2]});
  CHECK(s->journey_matching("other").empty());
}

STORE_TEST_CASE("journey statistics count entries, steps still to go and each exit once") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  s->enter_journey("bday", ids[0], "a", at_ms(t0 - 10 * day_ms),
                   occurrence_messages(ids[0], "a", t0));
  s->enter_journey("bday", ids[1], "b", at_ms(t0 - 2 * day_ms),
                   occurrence_messages(ids[1], "b", t0));
  s->enter_journey("bday", ids[2], "c", at_ms(t0 + 3'600'000), {});
  s->record_journey_exit("bday", ids[0], "re-entry blocked", at_ms(t0));
  s->record_journey_exit("bday", ids[0], "re-entry blocked", at_ms(t0 + 1000));
  s->record_journey_exit("bday", ids[1], "unreadable birthday_at 'soon'", at_ms(t0));
  auto st = s->journey_statistics("bday", at_ms(t0 + 7'200'000));
  CHECK(st.entries_total == 3);
  CHECK(st.entries_7d == 2);
  CHECK(st.entries_today == 1);
  CHECK(st.in_progress == std::map<std::string, std::int64_t>{{"s1", 2}, {"s2", 2}});
  CHECK(st.exits ==
        std::map<std::string, std::int64_t>{{"re-entry blocked", 1}, {"unreadable date", 1}});
  CHECK(st.entries_by_day.at("2030-01-07") == 1);
  CHECK(st.entries_by_day.at("2030-01-05") == 1);
}

STORE_TEST_CASE("a journey's clock reads back what was set and is empty before its first run") {
  store_backend backend;
  store* s = backend.open();
  seed(*s, 0);
  CHECK_FALSE(s->journey_clock("bday"));
  s->set_journey_clock("bday", at_ms(t0));
  CHECK(s->journey_clock("bday") == at_ms(t0));
  s->set_journey_clock("bday", at_ms(t0 + day_ms));
  CHECK(s->journey_clock("bday") == at_ms(t0 + day_ms));
  s = backend.reopen();
  CHECK(s->journey_clock("bday") == at_ms(t0 + day_ms));
}

STORE_TEST_CASE("contacts are read by id in id order and missing ids are skipped") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  auto found = s->contacts_by_id({ids[2], 999'999, ids[0]});
  REQUIRE(found.size() == 2);
  CHECK(found[0].id == ids[0]);
  CHECK(found[1].id == ids[2]);
  CHECK(found[1].phone == "+8613800000102");
}

STORE_TEST_CASE("a journey's clock never moves backwards") {
  store_backend backend;
  store* s = backend.open();
  seed(*s, 0);
  s->set_journey_clock("bday", at_ms(t0 + day_ms));
  s->set_journey_clock("bday", at_ms(t0));  // a node that evaluated through an earlier instant
  CHECK(s->journey_clock("bday") == at_ms(t0 + day_ms));
}

// Several `pigeon serve` nodes on one PostgreSQL evaluate the same journeys: two stores on one
// database, from two threads, as two nodes would.
TEST_CASE(
    "two nodes entering the same journey occurrences enter each once, count each exit once and "
    "keep the later clock") {
  auto conninfo = pigeon::engine::test::pg_cluster::shared().create_database();
  auto a = postgres_store::open(conninfo);
  auto b = postgres_store::open(conninfo);
  constexpr int n = 300;
  auto ids = seed(*a, n);
  std::barrier phase(2);
  struct tally {
    int entered = 0;
    int clock_behind = 0;  // reads of the clock earlier than what this node had just set
  };
  // Each phase starts on both nodes at once. Entries one at a time, then in one transaction (as
  // a rollover does, so a node's INSERT meets the other's uncommitted one); the same exits in
  // one transaction; the clock moved forward in turns.
  auto node = [&](store& s, int parity, tally& t) {
    phase.arrive_and_wait();
    for (int i = 0; i < n; ++i)
      if (s.enter_journey("bday", ids[i], "2030-01-07", at_ms(t0), {})) ++t.entered;
    phase.arrive_and_wait();
    s.transaction([&] {
      for (int i = 0; i < n; ++i)
        if (s.enter_journey("bday", ids[i], "2031-01-07", at_ms(t0 + 365 * day_ms), {}))
          ++t.entered;
    });
    phase.arrive_and_wait();
    // A batch each (as a rollover enters), the two in opposite orders.
    std::vector<journey_entry> batch;
    for (int i = 0; i < n; ++i) batch.push_back({ids[i], "2032-01-07", {}});
    if (parity == 1) std::reverse(batch.begin(), batch.end());
    for (bool entered : s.enter_journeys("bday", batch, at_ms(t0 + 730 * day_ms)))
      if (entered) ++t.entered;
    phase.arrive_and_wait();
    s.transaction([&] {
      for (int i = 0; i < n; ++i)
        s.record_journey_exit("bday", ids[i], "re-entry blocked", at_ms(t0));
    });
    phase.arrive_and_wait();
    for (int k = 0; k < 100; ++k) {
      auto through = at_ms(t0 + 2 * k + parity);
      s.set_journey_clock("bday", through);
      if (s.journey_clock("bday") < through) ++t.clock_behind;
    }
  };
  tally ta;
  tally tb;
  std::thread other([&] { node(*b, 1, tb); });
  node(*a, 0, ta);
  other.join();
  CHECK(ta.entered + tb.entered == 3 * n);
  auto st = a->journey_statistics("bday", at_ms(t0));
  CHECK(st.entries_total == 3 * n);
  CHECK(st.exits.at("re-entry blocked") == n);
  CHECK(ta.clock_behind + tb.clock_behind == 0);
  CHECK(a->journey_clock("bday") == at_ms(t0 + 199));
  CHECK(b->journey_clock("bday") == at_ms(t0 + 199));
}

// Not a test: the journey store's figures on PostgreSQL at 1,000,000 contacts (the size of
// docs/BENCHMARKS.md "Lifecycle journeys"). Run with
//   build/dev/tests/store/store_tests -tc='*journey benchmark*' --no-skip
// PIGEON_BENCH_CONTACTS sets another size.
TEST_CASE("journey benchmark: index, zones, one day's rollover on PostgreSQL" * doctest::skip()) {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point from) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - from).count();
  };
  std::int64_t n = 1'000'000;
  if (const char* size = std::getenv("PIGEON_BENCH_CONTACTS")) n = std::atoll(size);
  auto s = postgres_store::open(pigeon::engine::test::pg_cluster::shared().create_database());
  s->save_campaign(make_campaign("bday", "h1", {"s1", "s2"}));
  auto started = clock::now();
  s->connection().exec(
      "INSERT INTO contacts (phone, attributes, tz, created_at, updated_at) SELECT '+86138' || "
      "lpad(g::text, 8, '0'), '{\"first_name\":\"Li\"}', 'Asia/Shanghai', 0, 0 FROM "
      "generate_series(1, " +
      std::to_string(n) + ") g");
  MESSAGE("contacts inserted (generate_series): " << ms_since(started) << " ms");
  // The index as apply writes it: calls of 5,000 rows, a birthday spread over the year.
  started = clock::now();
  std::vector<journey_date> rows;
  for (std::int64_t id = 1; id <= n; ++id) {
    int month = static_cast<int>(id % 12) + 1;
    int day = static_cast<int>((id / 12) % 28) + 1;
    rows.push_back({id, "Asia/Shanghai", month, day, "1990-01-01", std::nullopt});
    if (rows.size() == 5000 || id == n) {
      s->set_journey_dates("bday", rows, {});
      rows.clear();
    }
  }
  MESSAGE("set_journey_dates, " << n << " rows in calls of 5,000: " << ms_since(started) << " ms");
  // For comparison: the first 100,000 of those rows again as a statement per row (SQLite's
  // shape) in one transaction.
  started = clock::now();
  std::int64_t compared = std::min<std::int64_t>(n, 100'000);
  s->transaction([&] {
    pigeon::engine::postgres::query q(
        s->connection(),
        "INSERT INTO journey_dates (campaign, contact_id, zone, month, day, date, next_check) "
        "VALUES ('other', $1, $2, $3, $4, $5, $6)");
    for (std::int64_t id = 1; id <= compared; ++id) {
      q.bind(1, id).bind(2, "Asia/Shanghai").bind(3, static_cast<int>(id % 12) + 1);
      q.bind(4, static_cast<int>((id / 12) % 28) + 1).bind(5, "1990-01-01").bind(6, std::nullopt);
      q.run();
      q.reset();
    }
  });
  MESSAGE("the same, " << compared << " rows a statement each: " << ms_since(started) << " ms");
  s->connection().exec("ANALYZE journey_dates");
  started = clock::now();
  auto zones = s->journey_zones("bday");
  MESSAGE("journey_zones: " << zones.size() << " in " << ms_since(started) << " ms");
  started = clock::now();
  std::vector<std::int64_t> due;
  s->for_each_journey_contact({"bday", "Asia/Shanghai", 3, {7}, "", std::nullopt},
                              [&](const contact& c) { due.push_back(c.id); });
  MESSAGE("one day's rollover read: " << due.size() << " contacts in " << ms_since(started)
                                      << " ms");
  started = clock::now();
  s->transaction([&] {
    // As tick enters them: in batches of 500 (enter_journeys), in one transaction.
    std::vector<journey_entry> batch;
    for (std::size_t i = 0; i < due.size(); ++i) {
      batch.push_back({due[i], "2030-03-07", occurrence_messages(due[i], "2030-03-07", t0)});
      if (batch.size() == 500 || i + 1 == due.size()) {
        s->enter_journeys("bday", batch, at_ms(t0));
        batch.clear();
      }
    }
  });
  MESSAGE("their entries with two messages each (batches of 500 in one transaction, as tick): "
          << ms_since(started) << " ms");
  started = clock::now();
  auto st = s->journey_statistics("bday", at_ms(t0));
  MESSAGE("journey_statistics: " << ms_since(started) << " ms, indexed " << st.indexed);
  CHECK(st.entries_total == static_cast<std::int64_t>(due.size()));
}

// The same through the journey engine: two nodes' rollovers of one birthday journey at once
// (each its own journey_engine and store, as two `pigeon serve` would run them).
TEST_CASE("two nodes rolling over one birthday journey at once greet each recipient once") {
  auto conninfo = pigeon::engine::test::pg_cluster::shared().create_database();
  auto a = postgres_store::open(conninfo);
  auto b = postgres_store::open(conninfo);
  auto engine = pigeon::config::parse_engine_config(R"(
default_timezone: Asia/Shanghai
senders:
  shop: { route: [main] }
providers:
  main: { kind: simulator }
)",
                                                    "engine.yaml");
  auto journey = pigeon::config::parse_campaign(R"(campaign: bday
sender: shop
trigger: { date: birthday_at, every: year }
audience: { all_tags: [member] }
steps:
  - { id: greet, at: "0d 10:00", sms: { text: hi } }
  - { id: later, at: "+1d 10:00", sms: { text: again } }
)",
                                                "bday.yaml");
  constexpr int n = 200;
  std::vector<contact> people;
  for (int i = 0; i < n; ++i) {
    auto c = make_contact("+86139" + std::to_string(10'000'000 + i));
    c.attributes["birthday_at"] = "1990-01-08";  // the day after t0 in Asia/Shanghai
    people.push_back(c);
  }
  a->upsert_contacts(people);
  apply_campaign(journey, engine, *a, at_ms(t0));
  REQUIRE(a->journey_statistics("bday", at_ms(t0)).entries_total == 0);
  std::barrier start(2);
  auto roll = [&](store& s, journey_result& r) {
    journey_engine node(engine);
    start.arrive_and_wait();
    node.tick(s, at_ms(t0 + day_ms), &r);
  };
  journey_result ra;
  journey_result rb;
  std::thread other([&] { roll(*b, rb); });
  roll(*a, ra);
  other.join();
  CHECK(ra.entered + rb.entered == n);
  CHECK(ra.messages + rb.messages == 2 * n);
  CHECK(a->journey_statistics("bday", at_ms(t0 + day_ms)).entries_total == n);
  CHECK(a->connection().query_int("SELECT count(*) FROM messages WHERE campaign = 'bday'") ==
        2 * n);
  CHECK(a->journey_clock("bday") == at_ms(t0 + day_ms));
}
