// SQLite only: contacts an older pigeon stored undecodable, as the scan and tagging meet them
// (the scan's contract on every backend is conformance/contact_test.cpp).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <stdexcept>

#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::add_contacts;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::temp_dir;

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
