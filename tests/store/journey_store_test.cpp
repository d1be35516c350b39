// Conformance suite of journey_store (engine/store/journey_store.hpp), run on every backend.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;

namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t t0 = 1'893'974'400'000;  // 2030-01-07T00:00:00Z

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
