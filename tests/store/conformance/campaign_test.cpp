// Conformance suite of campaign_store (engine/store/campaign_store.hpp): versions, lifecycle
// states, and the reads apply's pre-checks take (opt-outs, caps), run on every backend.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "engine/campaign/apply.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::campaign;
using namespace std::chrono_literals;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::day_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::seed;
using pigeon::engine::test::send_claimed;
using pigeon::engine::test::t0;

STORE_TEST_CASE("campaign versions follow the content hash and claims use the current templates") {
  store_backend backend;
  store* s = backend.open();
  CHECK(s->save_campaign(make_campaign("promo", "h1", {"s1", "s2"})) == 1);
  CHECK(s->save_campaign(make_campaign("promo", "h1", {"s1", "s2"})) == 1);
  auto ids = s->upsert_contacts({make_contact("+8613800000000")});
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s2", ids[0], 1000)});
  s->set_campaign_state("promo", "paused", at_ms(1));
  CHECK(s->save_campaign(make_campaign("promo", "h2", {"s1"})) == 2);
  auto found = s->find_campaign("promo");
  REQUIRE(found);
  CHECK(found->version == 2);
  CHECK(found->state == "paused");  // a new version keeps the lifecycle state
  REQUIRE(found->templates.size() == 1);
  CHECK(found->templates[0].text == "hello s1 h2");
  CHECK(s->list_campaigns().size() == 1);
  s->set_campaign_state("promo", "active", at_ms(2));
  auto claimed = s->claim_due(at_ms(2000), 10, at_ms(60000), "a");
  REQUIRE(claimed.size() == 2);
  for (const auto& m : claimed) {
    CHECK(m.campaign_version == 2);
    if (m.step == "s1") {
      CHECK(m.template_found);
      CHECK(m.tmpl.text == "hello s1 h2");
    } else {
      CHECK_FALSE(m.template_found);
    }
  }
  CHECK_FALSE(s->find_campaign("missing"));
}

STORE_TEST_CASE("cancelling a campaign suppresses its unfinished messages") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000),
              make_message("promo", "s1", ids[2], 9000)});
  auto claimed = s->claim_due(at_ms(1000), 1, at_ms(60000), "a");
  s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1100)}});
  s->record_outcomes({{claimed[0].id, message_state::submitted, "main", "C", "", {}, at_ms(1200)}});
  CHECK(s->count_pending() == 2);
  CHECK(s->set_campaign_state("promo", "cancelled", at_ms(2000)));
  auto status = s->status(at_ms(2000));
  CHECK(status.by_state.at("suppressed") == 2);
  CHECK(status.by_state.at("submitted") == 1);
  CHECK(s->count_pending() == 0);
  for (const auto& row : s->messages({"", message_state::suppressed, 0}))
    CHECK(row.reason == "campaign cancelled");
}

namespace {

config::engine_config apply_engine(const std::string& spread = "0s") {
  return config::parse_engine_config(R"(
default_timezone: Asia/Shanghai
policy:
  window_spread: )" + spread + R"(
  tiers: { active: "last_active_days <= 30" }
  frequency:
    - { tier: active, max: 1, per: 7d }
senders:
  shop: { route: [main] }
providers:
  main: { kind: simulator }
)",
                                     "engine.yaml");
}

config::campaign_config apply_campaign_file(const std::string& on_cap = "defer") {
  return config::parse_campaign(R"(campaign: later
sender: shop
anchor: 2030-01-10
on_cap: )" + on_cap + R"(
audience: { all_tags: [member] }
window: { between: "10:00-12:00" }
steps:
  - { id: one, at: "0d 10:00", sms: { text: hi } }
)",
                                "later.yaml");
}

contact member(const std::string& phone, int last_active_days, std::string tz = {}) {
  contact c;
  c.phone = phone;
  c.tags = {"member"};
  c.tz = std::move(tz);
  c.attributes["last_active_days"] = last_active_days;
  return c;
}

// A message of another campaign sent to `contact_id` at `at`.
void sent_before(store& s, std::int64_t contact_id, std::int64_t at) {
  auto c = test::make_campaign("earlier", "e1");
  s.save_campaign(c);
  s.enqueue({test::make_message("earlier", "s1", contact_id, at)});
  auto claimed = s.claim_due(at_ms(at), 10, at_ms(at + 60'000), "t");
  REQUIRE(claimed.size() == 1);
  s.mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(at), {}}});
  s.record_outcomes(
      {{claimed[0].id, message_state::submitted, "main", "C", "", std::nullopt, at_ms(at)}});
}

}  // namespace

STORE_TEST_CASE(
    "apply queues nothing for opted-out contacts and pre-checks caps against the ledger") {
  store_backend backend;
  store* s = backend.open();
  auto ids = s->upsert_contacts({member("+8613800000001", 5), member("+8613800000002", 5),
                                 member("+8613800000003", 60), member("+8613800000004", 5)});
  s->opt_out(ids[1], "test", at_ms(t0));
  // `one` falls due on 2030-01-10 10:00 +08:00 (02:00Z). Both active recipients (1 per 7d) got
  // another campaign's message before: the first on 01-03 03:00Z (its slot frees at 03:00Z on
  // the 10th, inside the step's validity: deferred), the fourth on the 9th (no slot that day).
  std::int64_t first_sent = t0 - 4 * day_ms + 3 * 3'600'000;
  sent_before(*s, ids[0], first_sent);
  sent_before(*s, ids[3], t0 + 2 * day_ms);
  auto summary = apply_campaign(apply_campaign_file(), apply_engine(), *s, at_ms(t0));
  CHECK(summary.recipients == 4);
  CHECK(summary.opted_out == 1);
  CHECK(summary.queued == 3);
  CHECK(summary.capped_deferred == 1);
  CHECK(summary.capped_dropped == 1);
  auto rows = s->messages({"later", std::nullopt, 0});
  REQUIRE(rows.size() == 3);
  for (const auto& r : rows) {
    CHECK(r.phone != "+8613800000002");
    if (r.phone == "+8613800000001") {
      CHECK(r.state == message_state::deferred);
      CHECK(r.reason == "frequency cap: active 1 per 7d (at apply)");
      CHECK(r.due == at_ms(first_sent + 7 * day_ms));
    } else if (r.phone == "+8613800000004") {
      CHECK(r.state == message_state::suppressed);
      CHECK(
          r.reason.starts_with("frequency cap: active 1 per 7d (at apply): a slot frees only "
                               "after its validity"));
    } else {
      CHECK(r.state == message_state::scheduled);
    }
  }
}

STORE_TEST_CASE("apply with on_cap drop stores a recipient already over a cap as suppressed") {
  store_backend backend;
  store* s = backend.open();
  auto ids = s->upsert_contacts({member("+8613800000001", 5)});
  sent_before(*s, ids[0], t0 + 2 * day_ms);
  auto summary = apply_campaign(apply_campaign_file("drop"), apply_engine(), *s, at_ms(t0));
  CHECK(summary.capped_dropped == 1);
  auto rows = s->messages({"later", std::nullopt, 0});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == message_state::suppressed);
  CHECK(rows[0].reason == "frequency cap: active 1 per 7d (at apply)");
}

STORE_TEST_CASE(
    "apply spreads due times over window_spread, within the window, the same every time") {
  store_backend backend;
  store* s = backend.open();
  std::vector<contact> people;
  for (int i = 0; i < 200; ++i)
    people.push_back(member("+86139" + std::to_string(10'000'000 + i), 60));
  s->upsert_contacts(people);
  apply_campaign(apply_campaign_file(), apply_engine("10m"), *s, at_ms(t0));
  auto opening = *parse_iso("2030-01-10T02:00:00Z");  // 10:00 +08:00
  std::set<time_point> distinct;
  for (const auto& r : s->messages({"later", std::nullopt, 0})) {
    CHECK(r.due >= opening);
    CHECK(r.due < opening + 10min);
    distinct.insert(r.due);
  }
  CHECK(distinct.size() > 150);
  // Without a spread every message falls due at the opening.
  store_backend other;
  store* s2 = other.open();
  s2->upsert_contacts(people);
  apply_campaign(apply_campaign_file(), apply_engine("0s"), *s2, at_ms(t0));
  for (const auto& r : s2->messages({"later", std::nullopt, 0})) CHECK(r.due == opening);
}

STORE_TEST_CASE("apply infers the time zone from the phone number when the contact has none") {
  store_backend backend;
  store* s = backend.open();
  s->upsert_contacts({member("+442079460000", 60), member("+12125550100", 60),
                      member("+442079460001", 60, "Asia/Tokyo")});
  apply_campaign(apply_campaign_file(), apply_engine(), *s, at_ms(t0));
  std::map<std::string, time_point> due;
  for (const auto& r : s->messages({"later", std::nullopt, 0})) due[r.phone] = r.due;
  CHECK(due["+442079460000"] == *parse_iso("2030-01-10T10:00:00Z"));  // Europe/London
  CHECK(due["+12125550100"] == *parse_iso("2030-01-10T02:00:00Z"));   // US: many zones, default
  CHECK(due["+442079460001"] == *parse_iso("2030-01-10T01:00:00Z"));  // its own tz wins
}

STORE_TEST_CASE("a re-apply without a step suppresses only that step's waiting messages") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s2", ids[0], 1000),
              make_message("promo", "s2", ids[1], 500)});
  // ids[1]'s s2 message was sent before the re-apply (the only one due at 500).
  auto sent = s->claim_due(at_ms(500), 10, at_ms(60000), "a");
  REQUIRE(sent.size() == 1);
  send_claimed(*s, sent[0].id, "C-1", 600);
  CHECK(s->suppress_removed_steps("promo", {"s1"}, "step s2 removed", at_ms(2000)) == 1);
  std::map<std::pair<std::string, std::string>, message_row> rows;  // (phone, step)
  for (const auto& m : s->messages({})) rows[{m.phone, m.step}] = m;
  CHECK(rows[{"+8613800000000", "s1"}].state == message_state::scheduled);
  CHECK(rows[{"+8613800000000", "s2"}].state == message_state::suppressed);
  CHECK(rows[{"+8613800000000", "s2"}].reason == "step s2 removed");
  CHECK(rows[{"+8613800000001", "s2"}].state == message_state::submitted);
}

STORE_TEST_CASE(
    "applying a cancelled campaign again queues anew only what the cancel stopped before any "
    "attempt") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000)});
  auto claimed = s->claim_due(at_ms(1000), 1, at_ms(60000), "a");
  REQUIRE(claimed.size() == 1);
  send_claimed(*s, claimed[0].id, "C-0", 1100);
  CHECK(s->restart_cancelled("promo", at_ms(1500)) == 0);  // not cancelled: nothing changes
  CHECK(s->messages({}).size() == 2);
  REQUIRE(s->set_campaign_state("promo", "cancelled", at_ms(2000)));
  CHECK(s->restart_cancelled("promo", at_ms(3000)) == 1);
  CHECK(s->find_campaign("promo")->state == "active");
  auto rows = s->messages({});
  REQUIRE(rows.size() == 1);  // the sent one stays as it is
  CHECK(rows[0].id == claimed[0].id);
  CHECK(rows[0].state == message_state::submitted);
  // The apply queues the other again; the sent one is not queued twice.
  CHECK(s->enqueue({make_message("promo", "s1", ids[0], 4000),
                    make_message("promo", "s1", ids[1], 4000)}) == 1);
}
