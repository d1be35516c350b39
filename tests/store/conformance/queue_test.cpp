// Conformance suite of queue_store (engine/store/queue_store.hpp): enqueue, claims, intents and
// outcomes, leases and heartbeats, run on every backend.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_message;
using pigeon::engine::test::only_message;
using pigeon::engine::test::seed;

STORE_TEST_CASE("enqueueing the same campaign, step and contact twice stores one message") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  CHECK(s->enqueue({make_message("promo", "s1", ids[0], 1000)}) == 1);
  CHECK(s->enqueue({make_message("promo", "s1", ids[0], 5000),
                    make_message("promo", "s1", ids[1], 1000)}) == 1);
  CHECK(s->messages({}).size() == 2);
  CHECK(s->messages({})[0].due == at_ms(1000));
}

STORE_TEST_CASE(
    "enqueueing hundreds of messages at once stores each once, in order, new ones counted") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 700);
  CHECK(s->enqueue({make_message("promo", "s1", ids[10], 42)}) == 1);
  std::vector<new_message> batch;
  for (int i = 0; i < 700; ++i) {
    auto m = make_message("promo", "s1", ids[static_cast<std::size_t>(i)], 1000 + i);
    if (i % 7 == 3) m.suppressed_reason = "holdout";
    batch.push_back(std::move(m));
  }
  batch.push_back(make_message("promo", "s1", ids[500], 1));  // a repeat inside the batch
  // 700 new, contact 10 was already queued, the repeat of contact 500 is not stored again.
  CHECK(s->enqueue(batch) == 699);
  auto rows = s->messages({});
  REQUIRE(rows.size() == 700);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  CHECK(rows[0].due == at_ms(42));  // the earlier message of contact 10 is kept as it was
  for (std::size_t k = 1; k < rows.size(); ++k) {
    int i = static_cast<int>(k <= 10 ? k - 1 : k);  // batch order, contact 10 skipped
    CHECK(rows[k].phone == "+861380000000" + std::to_string(i));
    CHECK(rows[k].due == at_ms(1000 + i));
    CHECK(rows[k].state == (i % 7 == 3 ? message_state::suppressed : message_state::scheduled));
    CHECK(rows[k].reason == (i % 7 == 3 ? "holdout" : ""));
  }
}

STORE_TEST_CASE(
    "claim returns the oldest due first, respects the limit and skips what is not due") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 4);
  s->enqueue({make_message("promo", "s1", ids[0], 3000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 2000),
              make_message("promo", "s1", ids[3], 9000)});
  auto claimed = s->claim_due(at_ms(5000), 2, at_ms(65000), "engine-a");
  REQUIRE(claimed.size() == 2);
  CHECK(claimed[0].due == at_ms(1000));
  CHECK(claimed[1].due == at_ms(2000));
  CHECK(claimed[0].template_found);
  CHECK(claimed[0].tmpl.text == "hello s1 h1");
  CHECK(claimed[0].sender == "coffee");
  CHECK(claimed[0].category == "marketing");
  CHECK(claimed[0].campaign_version == 1);
  CHECK(claimed[0].recipient.phone == "+8613800000001");
  CHECK(claimed[0].recipient.attributes.at("first_name").as_string() == "Li");
  auto rest = s->claim_due(at_ms(5000), 10, at_ms(65000), "engine-a");
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].due == at_ms(3000));
  CHECK(s->claim_due(at_ms(5000), 10, at_ms(65000), "engine-a").empty());
  CHECK(s->status(at_ms(5000)).by_state.at("leased") == 3);
  CHECK(s->next_due() == at_ms(9000));
}

STORE_TEST_CASE("claim skips paused and cancelled campaigns") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->save_campaign(make_campaign("other", "x"));
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("other", "s1", ids[0], 1000)});
  CHECK(s->set_campaign_state("promo", "paused", at_ms(1)));
  auto claimed = s->claim_due(at_ms(5000), 10, at_ms(65000), "a");
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].campaign == "other");
  CHECK_FALSE(s->next_due());
  CHECK(s->set_campaign_state("promo", "active", at_ms(2)));
  CHECK(s->claim_due(at_ms(5000), 10, at_ms(65000), "a").size() == 1);
  CHECK_FALSE(s->set_campaign_state("nope", "paused", at_ms(3)));
  CHECK_THROWS_AS(s->set_campaign_state("promo", "sleeping", at_ms(3)), store_error);
}

STORE_TEST_CASE("an expired lease is reclaimed by another owner and an unexpired one is not") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  REQUIRE(s->claim_due(at_ms(1000), 10, at_ms(31000), "a").size() == 1);
  CHECK(s->claim_due(at_ms(30000), 10, at_ms(60000), "b").empty());
  auto reclaimed = s->claim_due(at_ms(31001), 10, at_ms(61001), "b");
  CHECK(reclaimed.size() == 1);
}

STORE_TEST_CASE("a message in a final state never changes") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(2000), "a").at(0).id;
  s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}});
  s->record_outcomes(
      {{id, message_state::submitted, "main", "C-1", "", std::nullopt, at_ms(1200)}});
  s->record_outcomes({{id, message_state::delivered, "main", "", "", std::nullopt, at_ms(1300)}});
  s->record_outcomes({{id, message_state::failed, "main", "", "late", std::nullopt, at_ms(1400)},
                      {id, message_state::retry, "main", "", "x", at_ms(9000), at_ms(1400)}});
  auto row = only_message(*s);
  CHECK(row.state == message_state::delivered);
  CHECK(row.carrier_id == "C-1");
  CHECK(row.sent_at == at_ms(1200));
  CHECK(row.attempts == 1);
}

STORE_TEST_CASE("a submitted message does not move back to retry") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(2000), "a").at(0).id;
  s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}});
  s->record_outcomes(
      {{id, message_state::submitted, "main", "C-1", "", std::nullopt, at_ms(1200)}});
  s->record_outcomes({{id, message_state::retry, "main", "", "x", at_ms(9000), at_ms(1300)}});
  CHECK(only_message(*s).state == message_state::submitted);
}

STORE_TEST_CASE("retry and deferred outcomes set the next due time and release the lease") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000)});
  auto claimed = s->claim_due(at_ms(1000), 10, at_ms(60000), "a");
  REQUIRE(claimed.size() == 2);
  s->mark_submitting({{claimed[0].id, "main", "hello", 1, at_ms(1100)}});
  s->record_outcomes(
      {{claimed[0].id, message_state::retry, "main", "", "503 busy", at_ms(5000), at_ms(1200)},
       {claimed[1].id, message_state::deferred, "", "", "quiet hours", at_ms(7000), at_ms(1200)}});
  CHECK(s->messages({"promo", message_state::retry, 0}).size() == 1);
  CHECK(s->messages({"promo", message_state::deferred, 0}).size() == 1);
  CHECK(s->next_due() == at_ms(5000));
  auto again = s->claim_due(at_ms(10000), 10, at_ms(70000), "a");
  REQUIRE(again.size() == 2);
  CHECK(again[0].id == claimed[0].id);
  CHECK(again[0].attempts == 1);
  CHECK(again[1].attempts == 0);
  // Held by a claim again (SQLite keeps claims in memory and the rows' waiting states, the
  // shared backend leases the rows): status counts them leased either way.
  CHECK(s->status(at_ms(10000)).by_state.at("leased") == 2);
  CHECK(s->claim_due(at_ms(10000), 10, at_ms(70000), "a").empty());
}

STORE_TEST_CASE("a message cancelled or paused after its claim is not marked for sending") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(60000), "a").at(0).id;

  REQUIRE(s->set_campaign_state("promo", "paused", at_ms(1050)));
  CHECK(s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}}).empty());
  CHECK(only_message(*s).state == message_state::scheduled);  // back in the queue

  REQUIRE(s->set_campaign_state("promo", "active", at_ms(1200)));
  id = s->claim_due(at_ms(1300), 1, at_ms(60000), "a").at(0).id;
  REQUIRE(s->set_campaign_state("promo", "cancelled", at_ms(1350)));
  CHECK(s->mark_submitting({{id, "main", "hello", 1, at_ms(1400)}}).empty());
  auto row = only_message(*s);
  CHECK(row.state == message_state::suppressed);
  CHECK(row.attempts == 0);
}

STORE_TEST_CASE("mark_submitting returns the messages it marked") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  auto id = s->claim_due(at_ms(1000), 1, at_ms(60000), "a").at(0).id;
  CHECK(s->mark_submitting({{id, "main", "hello", 1, at_ms(1100)}}) ==
        std::vector<std::int64_t>{id});
  CHECK(only_message(*s).state == message_state::submitting);
}

STORE_TEST_CASE("status tells a cleanly stopped engine from a running one") {
  store_backend backend;
  store* s = backend.open();
  CHECK_FALSE(s->status(at_ms(1000)).engine_heartbeat);
  s->heartbeat("pid-1", at_ms(1000));
  auto running = s->status(at_ms(2000));
  CHECK(running.engine_owner == "pid-1");
  CHECK(running.engine_heartbeat == at_ms(1000));
  CHECK_FALSE(running.engine_stopped_at);
  s->engine_stopped("pid-1", at_ms(3000));
  CHECK(s->status(at_ms(4000)).engine_stopped_at == at_ms(3000));
  s->heartbeat("pid-1", at_ms(5000));  // the same owner running again clears the stop
  CHECK_FALSE(s->status(at_ms(6000)).engine_stopped_at);
}

STORE_TEST_CASE("status lists the engine with its pid, heartbeat and lane detail") {
  store_backend backend;
  store* s = backend.open();
  CHECK(s->status(at_ms(500)).nodes.empty());
  s->heartbeat("pid-1", at_ms(1000));
  s->heartbeat_detail("pid-1", R"([{"name":"main"}])");
  auto st = s->status(at_ms(2000));
  REQUIRE(st.nodes.size() == 1);
  CHECK(st.nodes[0].name == "pid-1");
  CHECK(st.nodes[0].pid == static_cast<std::int64_t>(::getpid()));
  CHECK(st.nodes[0].heartbeat == at_ms(1000));
  CHECK_FALSE(st.nodes[0].stopped_at);
  CHECK(st.nodes[0].detail == R"([{"name":"main"}])");
  s->engine_stopped("pid-1", at_ms(3000));
  CHECK(s->status(at_ms(4000)).nodes.at(0).stopped_at == at_ms(3000));
}

STORE_TEST_CASE("a clean stop releases only its own leases and leaves submitting messages alone") {
  store_backend backend;
  store* s = seed(backend.open());
  auto mine = s->claim_due(at_ms(1000), 3, at_ms(600000), "me");
  REQUIRE(mine.size() == 3);
  s->mark_submitting({{mine[0].id, "main", "x", 1, at_ms(1100)}});
  auto theirs = s->claim_due(at_ms(1000), 1, at_ms(600000), "other");
  REQUIRE(theirs.size() == 1);
  CHECK(s->release_leases("me") == 2);
  auto st = s->status(at_ms(2000));
  CHECK(st.by_state.at("scheduled") == 2);
  CHECK(st.by_state.at("leased") == 1);
  CHECK(st.by_state.at("submitting") == 1);
  CHECK(s->release_leases("me") == 0);
}

STORE_TEST_CASE("lane detail stored with the heartbeat is read back while the engine runs") {
  store_backend backend;
  store* s = seed(backend.open());
  s->heartbeat("pid-1", at_ms(1000));
  s->heartbeat_detail("pid-1", R"([{"name":"main"}])");
  CHECK(s->operations(at_ms(1000)).lane_detail == R"([{"name":"main"}])");
  s->engine_stopped("pid-1", at_ms(2000));
  CHECK(s->operations(at_ms(2000)).lane_detail.empty());
}

STORE_TEST_CASE(
    "after a crash claimed messages are claimable at once and a send without an outcome waits "
    "the grace, flagged") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 1000)});
  auto claimed = s->claim_due(at_ms(1000), 10, at_ms(60000), "a");
  REQUIRE(claimed.size() == 3);
  std::sort(claimed.begin(), claimed.end(), [](auto& a, auto& b) { return a.id < b.id; });
  REQUIRE(s->mark_submitting({{claimed[0].id, "main", "hello", 1, at_ms(1100), {}},
                              {claimed[1].id, "main", "hello", 1, at_ms(1100), {}}})
              .size() == 2);
  s->record_outcomes(
      {{claimed[0].id, message_state::submitted, "main", "C-0", "", std::nullopt, at_ms(1200)}});
  // Engine "a" dies: claimed[1]'s request may have reached the carrier; claimed[2] was never
  // sent.
  s = backend.reopen();
  CHECK(s->recover_after_crash(at_ms(2000), std::chrono::seconds(30)).second == 1);
  auto now = s->claim_due(at_ms(2000), 10, at_ms(90000), "b");
  REQUIRE(now.size() == 1);
  CHECK(now[0].id == claimed[2].id);
  CHECK(now[0].attempts == 0);
  CHECK(s->status(at_ms(2000)).possible_duplicates == 1);
  std::map<std::int64_t, message_row> rows;
  for (const auto& m : s->messages({})) rows[m.id] = m;
  CHECK(rows[claimed[0].id].state == message_state::submitted);
  CHECK(rows[claimed[1].id].state == message_state::retry);
  CHECK(rows[claimed[1].id].due == at_ms(32000));
  // Not before the grace, then once, with its attempt counted.
  CHECK(s->claim_due(at_ms(31999), 10, at_ms(90000), "b").empty());
  auto later = s->claim_due(at_ms(32000), 10, at_ms(90000), "b");
  REQUIRE(later.size() == 1);
  CHECK(later[0].id == claimed[1].id);
  CHECK(later[0].attempts == 1);
}
