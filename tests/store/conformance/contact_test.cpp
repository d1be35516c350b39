// Conformance suite of contact_store (engine/store/contact_store.hpp), run on every backend, and
// what erasing and the summary leave in each backend's own tables.
//
// upsert_contacts and find_contact; for_each_contact: every contact the caller's connection sees
// (its own uncommitted writes included), in id order, and a caller that throws half-way leaves
// the store usable; summarize_contacts, opt_out_state and erase_contact.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <functional>
#include <stdexcept>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::postgres;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::add_contacts;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::pg_cluster;
using pigeon::engine::test::temp_dir;

namespace {

constexpr const char* phone_a = "+8613900000001";
constexpr const char* phone_b = "+8613900000002";

// Two contacts, a campaign with two steps; each contact has a message of step s1 (submitted
// and delivered for A) and one of s2 still scheduled, a reply and an event.
std::vector<std::int64_t> seed(store& s) {
  auto a = make_contact(phone_a);
  a.attributes["say \"hi\""] = "x";
  auto b = make_contact(phone_b);
  b.attributes["zip"] = "00123";
  auto ids = s.upsert_contacts({a, b});
  s.save_campaign(make_campaign("promo", "h1", {"s1", "s2"}));
  s.enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s2", ids[0], 9000),
             make_message("promo", "s1", ids[1], 1000), make_message("promo", "s2", ids[1], 9000)});
  for (const auto& m : s.claim_due(at_ms(1000), 10, at_ms(2000), "engine"))
    s.mark_submitting({{m.id, "main", "hello " + m.recipient.phone, 1, at_ms(1100)}});
  for (const auto& m : s.messages({})) {
    if (m.phone != phone_a || m.state != message_state::submitting) continue;
    s.record_outcomes(
        {{m.id, message_state::submitted, "main", "C-1", "", std::nullopt, at_ms(1200)}});
    s.record_outcomes(
        {{m.id, message_state::delivered, "main", "", "", std::nullopt, at_ms(1300)}});
  }
  for (auto id : ids) {
    reply_row r;
    r.provider = "main";
    r.phone = id == ids[0] ? phone_a : phone_b;
    r.contact_id = id;
    r.text = r.normalized = "1";
    r.at = at_ms(1500);
    s.record_reply(r);
    s.record_event({0, "purchase", id, {{"phone", r.phone}}, at_ms(1600), at_ms(1600)});
  }
  return ids;
}

}  // namespace

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

STORE_TEST_CASE("every contact is visited once, in id order, with its tags and attributes") {
  store_backend backend;
  store* s = backend.open();
  auto ids = add_contacts(*s, 1300);
  std::vector<std::int64_t> seen;
  s->for_each_contact([&](const contact& c) {
    seen.push_back(c.id);
    CHECK(c.tags == std::vector<std::string>{"member"});
    CHECK(c.attributes.at("n").as_int64() == static_cast<std::int64_t>(seen.size() - 1));
  });
  CHECK(seen == ids);
}

STORE_TEST_CASE("contacts written earlier in the same transaction are visited too") {
  store_backend backend;
  store* s = backend.open();
  add_contacts(*s, 10);
  int before = 0, inside = 0, after = 0;
  s->transaction([&] {
    s->for_each_contact([&](const contact&) { ++before; });
    add_contacts(*s, 5, 10);  // not committed yet: only this connection sees them
    s->for_each_contact([&](const contact&) { ++inside; });
  });
  s->for_each_contact([&](const contact&) { ++after; });
  CHECK(before == 10);
  CHECK(inside == 15);
  CHECK(after == 15);
}

STORE_TEST_CASE(
    "a caller that throws half-way through the scan gets its error and the store goes on") {
  store_backend backend;
  store* s = backend.open();
  add_contacts(*s, 3000);
  int visited = 0;
  CHECK_THROWS_WITH_AS(s->for_each_contact([&](const contact&) {
    if (++visited == 700) throw std::runtime_error("budget exceeded");
  }),
                       "budget exceeded", std::runtime_error);
  CHECK(visited == 700);
  int all = 0;
  s->for_each_contact([&](const contact&) { ++all; });
  CHECK(all == 3000);
}

STORE_TEST_CASE("the contacts summary counts contacts and sorts every attribute name in use") {
  store_backend backend;
  store* s = backend.open();
  seed(*s);
  auto summary = s->summarize_contacts();
  CHECK(summary.count == 2);
  CHECK(summary.attributes == std::vector<std::string>{"first_name", "say \"hi\"", "zip"});
}

STORE_TEST_CASE("an opt-out is read back with its time and source") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  CHECK(!s->opt_out_state(ids[0]));
  s->opt_out(ids[0], "manual", at_ms(5000));
  auto state = s->opt_out_state(ids[0]);
  REQUIRE(state);
  CHECK(state->at == at_ms(5000));
  CHECK(state->source == "manual");
}

STORE_TEST_CASE("erasing refuses while a message's outcome is unknown, and changes nothing") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);  // B's s1 message is still `submitting`
  auto before = s->status(at_ms(2000));
  auto r = s->erase_contact(phone_b, at_ms(2000));
  CHECK(r.found);
  REQUIRE(r.refused.size() == 1);
  CHECK(r.refused[0].state == message_state::submitting);
  CHECK(r.refused[0].step == "s1");
  CHECK(s->find_contact(phone_b));
  CHECK(s->status(at_ms(2000)).by_state == before.by_state);
  CHECK(s->replies({}).size() == 2);
  CHECK(!s->erase_contact("+8613999999999", at_ms(2000)).found);
}

STORE_TEST_CASE("an erased contact leaves a tombstone that keeps the counts and nothing personal") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  auto before = s->status(at_ms(2000));
  auto r = s->erase_contact(phone_a, at_ms(2000));
  REQUIRE(r.found);
  CHECK(r.refused.empty());
  CHECK(r.suppressed == 1);  // s2, scheduled
  CHECK(r.scrubbed == 2);
  CHECK(r.replies == 1);
  CHECK(r.events == 1);
  CHECK(!s->find_contact(phone_a));
  std::vector<std::string> listed;
  s->for_each_contact([&](const contact& c) { listed.push_back(c.phone); });
  CHECK(listed == std::vector<std::string>{phone_b});
  auto after = s->status(at_ms(2000));
  CHECK(after.contacts == before.contacts - 1);
  CHECK(after.by_state.at("delivered") == before.by_state.at("delivered"));
  CHECK(after.by_state.at("suppressed") == before.by_state.at("suppressed") + 1);
  CHECK(after.by_state.at("scheduled") == before.by_state.at("scheduled") - 1);
  for (const auto& m : s->messages({})) {
    if (m.phone == phone_b) continue;
    CHECK(m.phone == "erased:" + std::to_string(ids[0]));
    CHECK(m.body.empty());
  }
  CHECK(s->replies({}).size() == 1);
  CHECK(s->events(ids[0], "", at_ms(0)).empty());
  CHECK(s->summarize_contacts().attributes == std::vector<std::string>{"first_name", "zip"});
  // The number comes back as a new contact with a new id: nothing of the erased one is theirs.
  auto again = s->upsert_contacts({make_contact(phone_a)});
  CHECK(again[0] != ids[0]);
  message_filter f;
  f.phone = phone_a;
  CHECK(s->messages(f).empty());
}

TEST_CASE("on PostgreSQL the contacts summary reads names past a row that is not JSON") {
  pigeon::engine::test::postgres_backend backend;
  auto* s = dynamic_cast<postgres_store*>(backend.open());
  REQUIRE(s);
  auto a = make_contact("+8613900000001");
  a.attributes["say \"hi\""] = "x";
  auto b = make_contact("+8613900000002");
  b.attributes["zip"] = "00123";
  auto c = make_contact("+8613900000003");
  auto ids = s->upsert_contacts({a, b, c});
  auto summary = s->summarize_contacts();
  CHECK(summary.count == 3);
  CHECK(summary.attributes == std::vector<std::string>{"first_name", "say \"hi\"", "zip"});
  // A damaged row (written by hand) fails the server's JSON reading: the names are read here
  // instead, the damaged row naming none.
  s->connection().exec("UPDATE contacts SET attributes = '{\"broken' WHERE id = " +
                       std::to_string(ids[0]));
  summary = s->summarize_contacts();
  CHECK(summary.count == 3);
  CHECK(summary.attributes == std::vector<std::string>{"first_name", "zip"});
}

namespace {

// Runs `sql` on its own connection; returns the first column of the first row ("" for none).
std::string raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  std::string out;
  int rc = sqlite3_exec(
      raw, sql.c_str(),
      [](void* o, int n, char** values, char**) {
        auto& s = *static_cast<std::string*>(o);
        if (s.empty() && n > 0 && values[0]) s = values[0];
        return 0;
      },
      &out, nullptr);
  sqlite3_close(raw);
  REQUIRE(rc == SQLITE_OK);
  return out;
}

// Erasing a journey's recipient, with the journey rows written and read back in SQL through
// `sql` (the first column of the first row, "" for none): the journey store's own writers are
// conformance/journey_test.cpp's subject.
void check_journey_erasure(store& s, const std::function<std::string(const std::string&)>& sql) {
  auto ids = seed(s);
  for (auto id : ids) {
    auto c = std::to_string(id);
    sql("UPDATE messages SET occurrence = '2026-05-17', context = '{\"anchor\":\"2026-05-17\"}' "
        "WHERE contact_id = " +
        c +
        ";"
        "INSERT INTO journey_entries VALUES ('promo', " +
        c +
        ", '2025-05-17', 1);"
        "INSERT INTO journey_entries VALUES ('promo', " +
        c +
        ", '2026-05-17', 2);"
        "INSERT INTO journey_members VALUES ('promo', " +
        c +
        ", 1, 2);"
        "INSERT INTO journey_exits VALUES ('promo', " +
        c +
        ", 'unreadable birthday_at: ''17.5.1990''', 3);"
        "INSERT INTO journey_dates VALUES ('promo', " +
        c + ", 'Asia/Shanghai', 5, 17, '2026-05-17', NULL);");
  }
  REQUIRE(s.erase_contact(phone_a, at_ms(2000)).refused.empty());
  auto a = std::to_string(ids[0]), b = std::to_string(ids[1]);
  auto count = [&](const std::string& table, const std::string& id) {
    return sql("SELECT count(*) FROM " + table + " WHERE contact_id = " + id);
  };
  CHECK(count("journey_entries", a) == "2");  // the counts stay
  CHECK(count("journey_exits", a) == "1");
  CHECK(count("journey_dates", a) == "0");
  CHECK(count("journey_members", a) == "0");
  CHECK(sql("SELECT count(*) FROM journey_entries WHERE contact_id = " + a +
            " AND occurrence LIKE 'erased:%'") == "2");
  CHECK(sql("SELECT reason FROM journey_exits WHERE contact_id = " + a) ==
        "unreadable birthday_at");
  CHECK(sql("SELECT count(*) FROM messages WHERE contact_id = " + a +
            " AND (occurrence LIKE '2026%' OR context IS NOT NULL)") == "0");
  // The other recipient is untouched.
  CHECK(count("journey_dates", b) == "1");
  CHECK(sql("SELECT count(*) FROM messages WHERE contact_id = " + b +
            " AND occurrence = '2026-05-17'") == "2");
}

}  // namespace

TEST_CASE("erasing a journey's recipient keeps its counts and drops its dates and anchors") {
  temp_dir dir;
  auto path = dir.file("p.db");
  auto s = sqlite_store::open(path);
  check_journey_erasure(*s, [&](const std::string& sql) { return raw_sql(path, sql); });
}

TEST_CASE("on postgres, erasing a journey's recipient keeps its counts and drops its anchors") {
  auto conninfo = pg_cluster::shared().create_database();
  auto s = postgres_store::open(conninfo);
  postgres::connection raw(conninfo);
  check_journey_erasure(*s, [&](const std::string& sql) -> std::string {
    if (!sql.starts_with("SELECT")) {
      raw.exec(sql);
      return "";
    }
    postgres::query q(raw, sql);
    return q.step() ? q.get_text(0) : "";
  });
}

TEST_CASE("on postgres, an erased phone leaves no old row version in the table or its index") {
  auto conninfo = pg_cluster::shared().create_database();
  auto s = postgres_store::open(conninfo);
  auto ids = s->upsert_contacts({make_contact(phone_a), make_contact(phone_b)});
  reply_row r;
  r.provider = "main";
  r.phone = phone_a;
  r.contact_id = ids[0];
  r.text = r.normalized = "STOP";
  r.at = at_ms(1000);
  s->record_reply(r);
  r.phone = phone_b;
  r.contact_id = ids[1];
  s->record_reply(r);
  REQUIRE(s->erase_contact(phone_a, at_ms(2000)).found);
  // The stored bytes, read through pageinspect (the test cluster's user is its superuser).
  postgres::connection raw(conninfo);
  raw.exec("CREATE EXTENSION pageinspect");
  auto holding = [&](const std::string& phone, const std::string& items) {
    return raw.query_int(
        "SELECT count(*) FROM " + items + " WHERE position(decode('" +
        std::string(phone).substr(1) + "', 'escape') in " +
        (items.starts_with("bt_") ? "decode(replace(data, ' ', ''), 'hex')" : "t_data") + ") > 0");
  };
  CHECK(holding(phone_a, "heap_page_items(get_raw_page('contacts', 0))") == 0);
  CHECK(holding(phone_a, "heap_page_items(get_raw_page('replies', 0))") == 0);
  CHECK(holding(phone_a, "bt_page_items('contacts_phone_key', 1)") == 0);
  // The other contact is still there, bytes and all: the reads above can find a phone.
  CHECK(holding(phone_b, "heap_page_items(get_raw_page('contacts', 0))") == 1);
  CHECK(holding(phone_b, "heap_page_items(get_raw_page('replies', 0))") == 1);
  CHECK(holding(phone_b, "bt_page_items('contacts_phone_key', 1)") == 1);
}
