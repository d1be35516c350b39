// The inbound side of the shared PostgreSQL store (engine/store/postgres/inbound.cpp) under
// concurrency: several nodes, each with its own connection, receive webhooks for the same
// contacts and messages at once. Each test opens two stores on one database and races them
// from two threads, many rounds, each round released by a barrier.
#include <doctest/doctest.h>

#include <algorithm>
#include <barrier>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "tests/store/fixture.hpp"
#include "tests/store/pg_cluster.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::postgres;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::pg_cluster;

namespace {

constexpr int rounds = 100;

// Two nodes' stores on one fresh database, and a connection of the test's own for setup and
// for reading what the stores cannot show.
struct two_nodes {
  std::string conninfo = pg_cluster::shared().create_database();
  std::unique_ptr<postgres_store> a = postgres_store::open(conninfo);
  std::unique_ptr<postgres_store> b = postgres_store::open(conninfo);
  postgres::connection raw{conninfo};

  // Runs body(store, round) on both stores from two threads, `rounds` times, both threads
  // entering each round together. Returns the errors thrown (none expected).
  std::vector<std::string> race(const std::function<void(store&, int)>& body) {
    std::barrier start(2);
    std::vector<std::string> errors[2];
    auto run = [&](store& s, std::vector<std::string>& out) {
      for (int round = 0; round < rounds; ++round) {
        start.arrive_and_wait();
        try {
          body(s, round);
        } catch (const std::exception& e) {
          out.push_back(e.what());
        }
      }
    };
    std::thread other([&] { run(*b, errors[1]); });
    run(*a, errors[0]);
    other.join();
    errors[0].insert(errors[0].end(), errors[1].begin(), errors[1].end());
    return errors[0];
  }

  std::int64_t count(const std::string& sql) { return raw.query_int(sql); }
};

std::string phone_of(int round) { return "+86139000" + std::to_string(10000 + round); }

}  // namespace

TEST_CASE("two nodes creating the same new contact at once get one row and the same id") {
  two_nodes nodes;
  std::vector<std::int64_t> ids[2];
  std::mutex m;
  auto errors = nodes.race([&](store& s, int round) {
    auto id = s.ensure_contact(phone_of(round), at_ms(1000));
    std::lock_guard lock(m);
    ids[&s == nodes.a.get() ? 0 : 1].push_back(id);
  });
  CHECK(errors.empty());
  for (const auto& e : errors) MESSAGE(e);
  CHECK(ids[0] == ids[1]);
  CHECK(nodes.count("SELECT count(*) FROM contacts") == rounds);
}

namespace {

// A message of `contact_id` in campaign promo, submitted to provider "main" with carrier id
// C<round> and its ledger row (attempt 1): what a node leaves after the carrier accepted it.
std::int64_t submitted_message(postgres::connection& raw, std::int64_t contact_id, int round) {
  auto id = std::to_string(contact_id), carrier = "'C" + std::to_string(round) + "'";
  auto message = raw.query_int(
      "INSERT INTO messages (campaign, step, variant, contact_id, state, due_at, attempts, "
      "provider, carrier_id, sent_at, created_at, updated_at, occurrence) VALUES ('promo', 's1', "
      "'A', " +
      id + ", 'submitted', 1000, 1, 'main', " + carrier + ", 1100, 1000, 1100, 'r" +
      std::to_string(round) + "') RETURNING id");
  raw.exec(
      "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, outcome, "
      "carrier_id) VALUES (" +
      std::to_string(message) + ", " + id + ", 'promo', 1, 'main', 1100, 'submitted', " + carrier +
      ")");
  return message;
}

receipt dlr(message_state state, const std::string& status) {
  receipt r;
  r.provider = "main";
  r.state = state;
  r.status = status;
  r.at = r.received_at = at_ms(2000);
  return r;
}

// Seeds `rounds` submitted messages, then races node a recording `a_sends` and node b recording
// `b_sends` for each (round r: carrier id C<r>). Returns how many receipts had each effect.
std::map<receipt_effect, int> race_receipts(two_nodes& nodes, const receipt& a_sends,
                                            const receipt& b_sends) {
  nodes.a->save_campaign(make_campaign("promo", "h1"));
  auto contact = nodes.a->upsert_contacts({make_contact("+8613900000001")})[0];
  for (int round = 0; round < rounds; ++round) submitted_message(nodes.raw, contact, round);
  std::map<receipt_effect, int> effects;
  std::mutex m;
  auto errors = nodes.race([&](store& s, int round) {
    auto r = &s == nodes.a.get() ? a_sends : b_sends;
    r.carrier_id = "C" + std::to_string(round);
    auto effect = s.record_receipt(r);
    std::lock_guard lock(m);
    ++effects[effect];
  });
  CHECK(errors.empty());
  for (const auto& e : errors) MESSAGE(e);
  return effects;
}

}  // namespace

TEST_CASE("the same receipt reaching two nodes at once is applied once, the other a duplicate") {
  two_nodes nodes;
  auto delivered = dlr(message_state::delivered, "DELIVRD");
  auto effects = race_receipts(nodes, delivered, delivered);
  CHECK(effects[receipt_effect::applied] == rounds);
  CHECK(effects[receipt_effect::duplicate] == rounds);
  CHECK(nodes.count("SELECT count(*) FROM receipts") == rounds);
  CHECK(nodes.count("SELECT count(*) FROM messages WHERE state = 'delivered'") == rounds);
  CHECK(nodes.count("SELECT count(*) FROM send_ledger WHERE outcome = 'delivered'") == rounds);
}

TEST_CASE("two final receipts for one message racing at two nodes: the first one wins") {
  // A delivered and an undelivered report for the same message (a carrier's retry after a
  // status change, or two gateways): exactly one applies, the other finds a final state.
  two_nodes nodes;
  auto effects = race_receipts(nodes, dlr(message_state::delivered, "DELIVRD"),
                               dlr(message_state::undelivered, "UNDELIV"));
  CHECK(effects[receipt_effect::applied] == rounds);
  CHECK(effects[receipt_effect::stale] == rounds);
  // Each message's state is the one its applied receipt carried, never overwritten by the
  // other: the receipt stored as `applied` names it.
  CHECK(nodes.count("SELECT count(*) FROM messages m JOIN receipts r ON r.message_id = m.id "
                    "AND r.effect = 'applied' AND r.state = m.state") == rounds);
}

TEST_CASE("two nodes tagging one contact at once keep both tags") {
  two_nodes nodes;
  std::vector<std::int64_t> ids;
  for (int round = 0; round < rounds; ++round)
    ids.push_back(nodes.a->ensure_contact(phone_of(round), at_ms(1000)));
  auto errors = nodes.race([&](store& s, int round) {
    s.add_tag(ids[round], &s == nodes.a.get() ? "wants-sample" : "vip", at_ms(2000));
  });
  CHECK(errors.empty());
  for (const auto& e : errors) MESSAGE(e);
  int both = 0;
  for (int round = 0; round < rounds; ++round) {
    auto c = nodes.a->find_contact(phone_of(round));
    REQUIRE(c);
    std::sort(c->tags.begin(), c->tags.end());
    both += c->tags == std::vector<std::string>{"vip", "wants-sample"};
  }
  CHECK(both == rounds);
}

TEST_CASE("a carrier retrying one inbound message at two nodes stores it once") {
  two_nodes nodes;
  auto contact = nodes.a->ensure_contact("+8613900000001", at_ms(1000));
  std::vector<std::int64_t> ids;
  std::mutex m;
  auto errors = nodes.race([&](store& s, int round) {
    reply_row r;
    r.provider = "main";
    r.carrier_id = "MO" + std::to_string(round);
    r.phone = "+8613900000001";
    r.contact_id = contact;
    r.text = r.normalized = "YES";
    r.at = at_ms(3000);
    auto id = s.record_reply(r);
    std::lock_guard lock(m);
    ids.push_back(id);
  });
  CHECK(errors.empty());
  for (const auto& e : errors) MESSAGE(e);
  CHECK(std::count(ids.begin(), ids.end(), 0) == rounds);  // one of each pair was a retry
  CHECK(nodes.count("SELECT count(*) FROM replies") == rounds);
}

TEST_CASE("tagging a contact whose stored tags do not decode repairs them (postgres)") {
  two_nodes nodes;
  auto id = nodes.a->ensure_contact("+8613910000000", at_ms(1000));
  nodes.raw.exec("UPDATE contacts SET tags = '[\"unterminated'");
  nodes.a->add_tag(id, "wants-sample", at_ms(2000));
  auto c = nodes.a->find_contact("+8613910000000");
  REQUIRE(c);
  CHECK(c->tags == std::vector<std::string>{"wants-sample"});
}
