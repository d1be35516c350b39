// for_each_contact: every contact the caller's connection sees (its own uncommitted writes
// included), in id order, and a caller that throws half-way leaves the store usable.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <stdexcept>

#include "engine/store/sqlite/sqlite_store.hpp"
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

std::vector<std::int64_t> add_contacts(store& s, int n, int first = 0) {
  std::vector<contact> cs;
  for (int i = first; i < first + n; ++i) {
    auto c = make_contact("+86139" + std::to_string(10000000 + i));
    c.attributes["n"] = i;
    cs.push_back(c);
  }
  return s.upsert_contacts(cs);
}

}  // namespace

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

namespace {

// What an older pigeon could store: rows that are not JSON at all.
void poison(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("a contact stored undecodable is skipped by the scan and fails its claimed message") {
  temp_dir dir;
  auto s = sqlite_store::open(dir.file("p.db"));
  s->save_campaign(make_campaign("promo", "h1"));
  auto ids = add_contacts(*s, 4);
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 1000)});
  poison(dir.file("p.db"),
         "UPDATE contacts SET attributes = '{\"n\":NaN}' WHERE id = " + std::to_string(ids[1]) +
             ";" + "UPDATE contacts SET tags = CAST(X'5B22CDF5225D' AS TEXT) WHERE id = " +
             std::to_string(ids[3]));
  std::vector<std::int64_t> seen;
  s->for_each_contact([&](const contact& c) { seen.push_back(c.id); });
  CHECK(seen == std::vector<std::int64_t>{ids[0], ids[2]});
  auto claimed = s->claim_due(at_ms(5000), 10, at_ms(65000), "a");
  REQUIRE(claimed.size() == 2);
  CHECK(claimed[0].recipient.id == ids[0]);
  CHECK(claimed[1].recipient.id == ids[2]);
  message_filter only_failed;
  only_failed.state = message_state::failed;
  auto failed = s->messages(only_failed);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].reason.starts_with("contact +86*********01 (id " + std::to_string(ids[1]) +
                                     ") cannot be read: stored attributes is not a JSON object"));
  CHECK(s->claim_due(at_ms(5000), 10, at_ms(65000), "a").empty());  // nothing left wedged
}

TEST_CASE("tagging a contact whose stored tags do not decode repairs them") {
  temp_dir dir;
  auto s = sqlite_store::open(dir.file("p.db"));
  auto ids = add_contacts(*s, 1);
  poison(dir.file("p.db"), "UPDATE contacts SET tags = CAST(X'5B22CDF5225D' AS TEXT)");
  s->add_tag(ids[0], "wants-sample", at_ms(1000));
  auto c = s->find_contact("+8613910000000");
  REQUIRE(c);
  CHECK(c->tags == std::vector<std::string>{"wants-sample"});
}
