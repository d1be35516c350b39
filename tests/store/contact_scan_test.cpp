// for_each_contact: every contact the caller's connection sees (its own uncommitted writes
// included), in id order, and a caller that throws half-way leaves the store usable.
#include <doctest/doctest.h>

#include <stdexcept>

#include "engine/store/sqlite_store.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using pigeon::engine::test::make_contact;
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

TEST_CASE("every contact is visited once, in id order, with its tags and attributes") {
  temp_dir dir;
  auto s = sqlite_store::open(dir.file("p.db"));
  auto ids = add_contacts(*s, 1300);
  std::vector<std::int64_t> seen;
  s->for_each_contact([&](const contact& c) {
    seen.push_back(c.id);
    CHECK(c.tags == std::vector<std::string>{"member"});
    CHECK(c.attributes.at("n").as_int64() == static_cast<std::int64_t>(seen.size() - 1));
  });
  CHECK(seen == ids);
}

TEST_CASE("contacts written earlier in the same transaction are visited too") {
  temp_dir dir;
  auto s = sqlite_store::open(dir.file("p.db"));
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

TEST_CASE("a caller that throws half-way through the scan gets its error and the store goes on") {
  temp_dir dir;
  auto s = sqlite_store::open(dir.file("p.db"));
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
