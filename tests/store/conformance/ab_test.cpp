// Conformance suite of ab_store (engine/store/ab_store.hpp), run on every backend, and its
// race on PostgreSQL: two nodes deciding one test at once.
//
// ab_test: {metric, decide_after, then: winner}: the decision is taken once, after decide_after
// from the campaign's first send, recorded with its figures, and the messages not yet sent move
// to the winner.
#include <doctest/doctest.h>

#include <barrier>
#include <map>
#include <thread>

#include "engine/campaign/ab_decision.hpp"
#include "engine/campaign/apply.hpp"
#include "engine/ops/status_report.hpp"
#include "engine/store/postgres/connection.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::campaign;
using namespace pigeon::engine::ops;
using namespace pigeon::engine::postgres;
using namespace std::chrono_literals;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::day_ms;
using pigeon::engine::test::record_matched_reply;
using pigeon::engine::test::t0;

namespace {

stored_campaign ab_campaign() {
  stored_campaign c;
  c.name = "ab";
  c.content_hash = "h1";
  c.sender = "coffee";
  c.category = "marketing";
  c.source_text = "campaign: ab";
  for (const char* step : {"first", "second"})
    for (const char* v : {"A", "B"})
      c.templates.push_back({step, v, 50, "sms", std::string(v) + " text", "", {}, false, {}, {}});
  return c;
}

template <class Backend>
struct ab_fixture {
  Backend backend;
  store* s = backend.open();
  std::vector<std::int64_t> ids;

  // `n` recipients, alternately A and B, each with a "first" message due at t0 and a "second"
  // due three days later.
  explicit ab_fixture(int n) {
    std::vector<contact> people;
    for (int i = 0; i < n; ++i) {
      contact c;
      c.phone = "+86139" + std::to_string(10'000'000 + i);
      c.tz = "Asia/Shanghai";
      people.push_back(c);
    }
    ids = s->upsert_contacts(people);
    s->save_campaign(ab_campaign());
    std::vector<new_message> batch;
    for (int i = 0; i < n; ++i) {
      std::string v = i % 2 == 0 ? "A" : "B";
      batch.push_back({"ab", "first", v, ids[i], at_ms(t0), std::nullopt});
      batch.push_back({"ab", "second", v, ids[i], at_ms(t0 + 3 * day_ms), std::nullopt});
    }
    s->enqueue(batch);
  }
  // Sends everything due at `at` (claimed, marked, submitted).
  void send_due(std::int64_t at) {
    auto claimed = s->claim_due(at_ms(at), 100'000, at_ms(at + 60'000), "t");
    std::vector<submit_intent> intents;
    for (const auto& m : claimed) intents.push_back({m.id, "main", "x", 1, at_ms(at), {}});
    std::vector<send_outcome> outcomes;
    for (auto id : s->mark_submitting(intents))
      outcomes.push_back({id, message_state::submitted, "main", "C" + std::to_string(id), "",
                          std::nullopt, at_ms(at)});
    s->record_outcomes(outcomes);
  }
  // A reply "1" from every `every`-th recipient of variant `v` at `at`.
  void replies(const std::string& v, int every, std::int64_t at) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if ((i % 2 == 0 ? "A" : "B") != v || (i / 2) % every != 0) continue;
      record_matched_reply(*s, ids[i], "ab", "1", "1",
                           "R" + v + std::to_string(i) + "@" + std::to_string(at), at_ms(at));
    }
  }
  // Registers campaign "ab"'s test (min_per_variant 10: these audiences are small).
  void register_test(const std::string& metric, std::chrono::milliseconds decide_after,
                     std::int64_t min_per_variant = 10) {
    ab_decision test;
    test.campaign = "ab";
    test.metric = metric;
    test.decide_after = decide_after;
    test.min_per_variant = min_per_variant;
    s->register_ab_test(test, std::nullopt);
  }
  std::map<std::string, int> second_variants() {
    std::map<std::string, int> out;
    for (const auto& r : s->messages({"ab", std::nullopt, 0}))
      if (r.step == "second") ++out[r.variant];
    return out;
  }
};

}  // namespace

STORE_TEST_CASE(
    "an A/B test is decided once, decide_after the first send, and the rest get the winner") {
  ab_fixture<store_backend> f(400);
  f.register_test("reply:1", 48h);
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + 5 * day_ms)).empty());  // nothing sent yet
  f.send_due(t0);
  f.replies("B", 2, t0 + day_ms / 2);                                // half of B replies
  f.replies("A", 10, t0 + day_ms / 2);                               // a tenth of A
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + 2 * day_ms - 1)).empty());  // not yet
  auto decisions = decide_ab_tests(*f.s, at_ms(t0 + 2 * day_ms));
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].winner == "B");
  CHECK(decisions[0].runner_up == "A");
  REQUIRE(decisions[0].p_value);
  CHECK(*decisions[0].p_value < 0.001);
  CHECK(decisions[0].switched == 200);
  CHECK(f.second_variants() == std::map<std::string, int>{{"B", 400}});
  auto stored = f.s->find_ab_test("ab");
  REQUIRE(stored);
  CHECK(stored->winner == "B");
  CHECK(stored->decided_at == at_ms(t0 + 2 * day_ms));
  CHECK(stored->first_send == at_ms(t0));
  CHECK(stored->switched == 200);
  CHECK(stored->reason.find("B beats A on reply:1 (A 20/200, B 100/200)") != std::string::npos);
  // Decided once: later calls do nothing, and the statistics still count recipients by the
  // variant they were first sent.
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + 3 * day_ms)).empty());
  auto stats = f.s->ab_stats("ab");
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].variant == "A");
  CHECK(stats[0].recipients == 200);
  CHECK(stats[0].replies["1"] == 20);
}

STORE_TEST_CASE(
    "status shows an active campaign's A/B test as campaign show does, pending or decided") {
  ab_fixture<store_backend> f(400);
  f.register_test("reply:1", 48h);
  config::alert_thresholds thresholds;
  auto pending = build_status_report(*f.s, at_ms(t0 - 1000), thresholds, "ab.db");
  REQUIRE(pending.ab_decisions.count("ab") == 1);
  CHECK(describe_ab_decision(pending.ab_decisions.at("ab")) ==
        "ab_test on reply:1: decides 2d after the first send of the A/B step at the earliest, "
        "once each variant was sent to 10 (min_per_variant)");
  f.send_due(t0);
  f.replies("B", 2, t0 + day_ms / 2);
  f.replies("A", 10, t0 + day_ms / 2);
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + day_ms)).empty());  // notes the first send, too early
  auto sent = build_status_report(*f.s, at_ms(t0 + day_ms), thresholds, "ab.db");
  CHECK(describe_ab_decision(sent.ab_decisions.at("ab")) ==
        "ab_test on reply:1: decides at " + format_iso(at_ms(t0 + 2 * day_ms)) +
            " at the earliest (first send of the A/B step + decide_after), once each variant was "
            "sent to 10 (min_per_variant)");
  REQUIRE(decide_ab_tests(*f.s, at_ms(t0 + 2 * day_ms)).size() == 1);
  auto decided = build_status_report(*f.s, at_ms(t0 + 2 * day_ms), thresholds, "ab.db");
  auto line = describe_ab_decision(decided.ab_decisions.at("ab"));
  CHECK(line.find("ab_test decided " + format_iso(at_ms(t0 + 2 * day_ms)) + ": B beats A") == 0);
  CHECK(line.find("(200 messages switched)") != std::string::npos);
  auto json = to_json(decided);
  const auto& entry = json.at("campaigns").as_array().at(0).as_object();
  CHECK(entry.at("name") == "ab");
  CHECK(entry.at("ab_decision").at("winner") == "B");
  CHECK(entry.at("ab_decision").at("switched") == 200);
  // Only active campaigns: a paused one is listed without its test.
  f.s->set_campaign_state("ab", "paused", at_ms(t0 + 2 * day_ms));
  auto paused = build_status_report(*f.s, at_ms(t0 + 2 * day_ms), thresholds, "ab.db");
  CHECK(paused.ab_decisions.empty());
  CHECK(to_json(paused).at("campaigns").as_array().at(0).at("ab_decision").is_null());
}

STORE_TEST_CASE("an A/B test without a significant difference keeps the split and says why") {
  ab_fixture<store_backend> f(200);
  f.register_test("reply:1", 24h);
  // The second step of the first ten recipients is held by a sample (due at its time + 1d).
  std::vector<apply_deferral> held;
  for (int i = 0; i < 10; ++i)
    held.push_back({"second", f.ids[i], at_ms(t0 + 4 * day_ms), ab_held_reason});
  f.s->defer_at_apply("ab", held);
  f.send_due(t0);
  f.replies("A", 10, t0 + 1000);
  f.replies("B", 10, t0 + 1000);
  auto decisions = decide_ab_tests(*f.s, at_ms(t0 + day_ms));
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].winner.empty());
  CHECK(decisions[0].switched == 0);
  CHECK(decisions[0].reason.find("no winner") == 0);
  CHECK(f.second_variants() == std::map<std::string, int>{{"A", 100}, {"B", 100}});
  CHECK(f.s->find_ab_test("ab")->decided_at);
  // Released with their split, due at their own step's time (not now: it is later).
  CHECK(f.s->find_ab_test("ab")->held == 0);
  auto released = f.s->messages({"ab", message_state::deferred, 0});
  REQUIRE(released.size() == 10);
  for (const auto& r : released) {
    CHECK(r.due == at_ms(t0 + 3 * day_ms));
    CHECK(r.reason == "ab sample: released at the decision (no winner: the split)");
  }
}

STORE_TEST_CASE(
    "held messages wait for the decision, then go with the split once the sample is spent") {
  ab_fixture<store_backend> f(40);
  // Recipients 20..39 are outside the sample: their first message waits for the decision.
  std::vector<apply_deferral> held;
  for (int i = 20; i < 40; ++i)
    held.push_back({"first", f.ids[i], at_ms(t0 + day_ms), ab_held_reason});
  f.s->defer_at_apply("ab", held);
  ab_decision test;
  test.campaign = "ab";
  test.metric = "reply:1";
  test.decide_after = 24h;
  test.min_per_variant = 100;  // out of reach: 10 sends per variant
  test.sample_percent = 50;
  f.s->register_ab_test(test, at_ms(t0 + day_ms));
  f.send_due(t0);
  CHECK(f.s->find_ab_test("ab")->held == 20);
  // The decision time: too few sends, and the sample's second step is still to go: they wait.
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + day_ms)).empty());
  auto waiting = f.s->find_ab_test("ab");
  CHECK_FALSE(waiting->decided_at);
  CHECK(waiting->next_check == at_ms(t0 + day_ms) + ab_recheck_interval);
  CHECK(waiting->reason.find("min_per_variant 100") != std::string::npos);
  CHECK(waiting->held == 20);
  for (const auto& r : f.s->messages({"ab", message_state::deferred, 0}))
    CHECK(r.due == at_ms(t0 + day_ms) + ab_recheck_interval);
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + 3 * day_ms)).empty());
  f.send_due(t0 + 3 * day_ms);  // the second step goes: the sample is spent
  CHECK(f.s->find_ab_test("ab")->held == 20);
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + 3 * day_ms + 3'600'000)).empty());
  auto spent = f.s->find_ab_test("ab");
  CHECK_FALSE(spent->decided_at);  // not final: it may still decide on later evidence
  CHECK(spent->held == 0);
  auto released = f.s->messages({"ab", message_state::deferred, 0});
  REQUIRE(released.size() == 20);
  for (const auto& r : released) {
    CHECK(r.due == at_ms(t0 + 3 * day_ms + 3'600'000));
    CHECK(r.reason.find("released undecided") != std::string::npos);
  }
}

STORE_TEST_CASE("a paused campaign's A/B test waits for its resume") {
  ab_fixture<store_backend> f(20);
  f.register_test("delivered", 1h);
  f.send_due(t0);
  f.s->set_campaign_state("ab", "paused", at_ms(t0));
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + day_ms)).empty());
  f.s->set_campaign_state("ab", "active", at_ms(t0));
  CHECK(decide_ab_tests(*f.s, at_ms(t0 + day_ms)).size() == 1);
}

STORE_TEST_CASE("a version without ab_test drops an undecided test but keeps a decided one") {
  ab_fixture<store_backend> f(20);
  f.register_test("reply:1", 24h);
  f.s->defer_at_apply("ab", {{"first", f.ids[0], at_ms(t0 + day_ms), ab_held_reason}});
  f.register_test("", {});
  CHECK_FALSE(f.s->find_ab_test("ab"));
  // What the dropped test held goes with its split, at its step's time.
  auto released = f.s->messages({"ab", message_state::deferred, 0});
  REQUIRE(released.size() == 1);
  CHECK(released[0].due == at_ms(t0));
  CHECK(released[0].reason.find("no longer has an ab_test") != std::string::npos);
  f.register_test("delivered", 1h);
  f.send_due(t0);
  REQUIRE(decide_ab_tests(*f.s, at_ms(t0 + day_ms)).size() == 1);
  f.register_test("", {});
  f.register_test("reply:1", 24h);  // a decided test is not re-opened
  auto kept = f.s->find_ab_test("ab");
  REQUIRE(kept);
  CHECK(kept->metric == "delivered");
  CHECK(kept->decided_at);
}

// Several `pigeon serve` nodes on one PostgreSQL check the same A/B tests: two stores on one
// database, from two threads, deciding one test at once (each read the statistics at its own
// moment, so their winners differ).
TEST_CASE(
    "two nodes deciding one A/B test at once decide it once, and every message has its winner") {
  auto conninfo = test::pg_cluster::shared().create_database();
  auto a = postgres_store::open(conninfo);
  auto b = postgres_store::open(conninfo);
  constexpr int n = 1000;
  std::vector<contact> people;
  for (int i = 0; i < n; ++i)
    people.push_back(test::make_contact("+86139" + std::to_string(10'000'000 + i)));
  auto ids = a->upsert_contacts(people);
  a->save_campaign(ab_campaign());
  std::vector<new_message> batch;
  for (int i = 0; i < n; ++i) {
    std::string v = i % 2 == 0 ? "A" : "B";
    batch.push_back({"ab", "first", v, ids[i], at_ms(t0), std::nullopt});
    batch.push_back({"ab", "second", v, ids[i], at_ms(t0 + 3 * day_ms), std::nullopt});
  }
  a->enqueue(batch);
  ab_decision test;
  test.campaign = "ab";
  test.metric = "reply:1";
  test.decide_after = 24h;
  a->register_ab_test(test, std::nullopt);
  std::barrier start(2);
  auto decide = [&](store& s, const std::string& winner, std::int64_t& switched) {
    ab_decision d = test;
    d.decided_at = at_ms(t0 + day_ms);
    d.winner = winner;
    d.runner_up = winner == "A" ? "B" : "A";
    d.reason = winner + " wins";
    start.arrive_and_wait();
    switched = s.record_ab_decision(d);
  };
  std::int64_t switched_a = -1;
  std::int64_t switched_b = -1;
  std::thread other([&] { decide(*b, "B", switched_b); });
  decide(*a, "A", switched_a);
  other.join();
  auto stored = a->find_ab_test("ab");
  REQUIRE(stored);
  REQUIRE((stored->winner == "A" || stored->winner == "B"));
  // The node whose decision stands switched the other variant's messages; the other did nothing.
  CHECK(stored->switched == n);
  CHECK((stored->winner == "A" ? switched_a : switched_b) == n);
  CHECK((stored->winner == "A" ? switched_b : switched_a) == 0);
  CHECK(stored->reason == stored->winner + " wins");
  CHECK(a->connection().query_int("SELECT count(*) FROM messages WHERE variant <> '" +
                                  stored->winner + "'") == 0);
}
