// Conformance suite of the send policy as queue_store::mark_submitting applies it
// (engine/store/queue_store.hpp), run on every backend, and campaign plan's forecast of it.
//
// Send policy enforced by mark_submitting: frequency caps against the ledger, priorities,
// preferences and stop_on.
#include <doctest/doctest.h>

#include "engine/campaign/forecast.hpp"
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
using pigeon::engine::test::record_matched_reply;

namespace {

cap_rule active_2_per_7d() { return {"active 2 per 7d", 2, 7 * 24h}; }

template <class Backend>
struct policy_fixture {
  Backend backend;
  store* s = backend.open();
  std::int64_t contact_id = s->upsert_contacts({make_contact("+8613800000001")}).at(0);

  void campaign(const std::string& name, int priority = 5, std::string category = "marketing",
                cap_rule cap = {}, std::string on_cap = "defer",
                std::vector<std::string> stop_on = {}) {
    auto c = make_campaign(name, "h-" + name, {"s1", "s2", "s3"});
    c.priority = priority;
    c.category = std::move(category);
    c.cap = std::move(cap);
    c.on_cap = std::move(on_cap);
    c.stop_on = std::move(stop_on);
    s->save_campaign(c);
  }
  // Enqueues, claims and tries to mark one message at `at_ms_`; returns whether it was marked.
  bool send(const std::string& campaign, const std::string& step, std::int64_t at,
            std::vector<cap_rule> caps = {}, std::optional<time_point> expires = std::nullopt) {
    auto m = make_message(campaign, step, contact_id, at);
    m.expires = expires;
    s->enqueue({m});
    auto claimed = s->claim_due(at_ms(at), 100, at_ms(at + 60'000), "t");
    auto it = std::find_if(claimed.begin(), claimed.end(), [&](const claimed_message& c) {
      return c.campaign == campaign && c.step == step;
    });
    REQUIRE(it != claimed.end());
    submit_intent in{it->id, "main", "hi", 1, at_ms(at), std::move(caps)};
    bool marked = !s->mark_submitting({in}).empty();
    if (marked) {
      s->record_outcomes(
          {{it->id, message_state::submitted, "main", "C", "", std::nullopt, at_ms(at)}});
    }
    // Leave other claimed messages as they were.
    for (const auto& c : claimed) {
      if (c.id != it->id)
        s->record_outcomes({{c.id, message_state::deferred, "", "", "", c.due, at_ms(at)}});
    }
    return marked;
  }
  message_row row(const std::string& campaign, const std::string& step) {
    for (auto& r : s->messages({campaign, std::nullopt, 0}))
      if (r.step == step) return r;
    FAIL("no message " << campaign << "/" << step);
    return {};
  }
  // A reply from `contact` matched to `campaign` ('' when not attributed) with `keyword`.
  void reply(std::int64_t contact, const std::string& campaign, const std::string& keyword,
             const std::string& text, std::int64_t at) {
    record_matched_reply(*s, contact, campaign, keyword, text, "R" + std::to_string(++replies_),
                         at_ms(at));
  }
  void event(std::int64_t contact, const std::string& name, std::int64_t at) {
    contact_event e;
    e.contact_id = contact;
    e.name = name;
    e.at = at_ms(at);
    e.received_at = at_ms(0);
    s->record_event(e);
  }
  int replies_ = 0;
};

}  // namespace

STORE_TEST_CASE(
    "a third marketing message in 7 days to an active recipient is deferred until a slot "
    "frees") {
  policy_fixture<store_backend> f;
  f.campaign("a");
  f.campaign("b");
  f.campaign("c");
  CHECK(f.send("a", "s1", 0, {active_2_per_7d()}));
  CHECK(f.send("b", "s1", 2 * day_ms, {active_2_per_7d()}));
  CHECK_FALSE(f.send("c", "s1", 3 * day_ms, {active_2_per_7d()}));
  auto r = f.row("c", "s1");
  CHECK(r.state == message_state::deferred);
  CHECK(r.reason == "frequency cap: active 2 per 7d");
  CHECK(r.due == at_ms(7 * day_ms));  // the first send leaves the window
  // Once it has left, the message goes.
  CHECK(f.send("c", "s1", 7 * day_ms, {active_2_per_7d()}));
}

STORE_TEST_CASE(
    "failed attempts do not count against a cap and transactional messages are exempt") {
  policy_fixture<store_backend> f;
  f.campaign("a");
  f.campaign("b");
  f.campaign("receipt", 5, "transactional");
  CHECK(f.send("a", "s1", 0, {active_2_per_7d()}));
  // b's first attempt is rejected by the carrier: it did not reach the recipient.
  f.s->enqueue({make_message("b", "s1", f.contact_id, 1000)});
  auto claimed = f.s->claim_due(at_ms(1000), 1, at_ms(60'000), "t");
  REQUIRE(claimed.size() == 1);
  REQUIRE(f.s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1000), {}}}).size() == 1);
  f.s->record_outcomes(
      {{claimed[0].id, message_state::failed, "main", "", "rejected", std::nullopt, at_ms(1000)}});
  CHECK(f.send("b", "s2", 2000, {active_2_per_7d()}));
  // The cap is now full for marketing, but a transactional message still goes.
  CHECK(f.send("receipt", "s1", 3000, {active_2_per_7d()}));
  CHECK_FALSE(f.send("a", "s2", 4000, {active_2_per_7d()}));
}

STORE_TEST_CASE("a campaign's own cap counts only its messages and may drop instead of deferring") {
  policy_fixture<store_backend> f;
  f.campaign("other");
  f.campaign("weekly", 5, "marketing", {"campaign 1 per 7d", 1, 7 * 24h}, "drop");
  CHECK(f.send("other", "s1", 0));
  CHECK(f.send("weekly", "s1", 1000));
  CHECK_FALSE(f.send("weekly", "s2", 2000));
  auto r = f.row("weekly", "s2");
  CHECK(r.state == message_state::suppressed);
  CHECK(r.reason == "frequency cap: campaign 1 per 7d");
  CHECK(f.send("other", "s2", 3000));  // the other campaign is not limited by it
}

STORE_TEST_CASE("when the budget is short the higher-priority campaign gets the last slot") {
  policy_fixture<store_backend> f;
  f.campaign("big-sale", 9);
  f.campaign("newsletter", 1);
  f.campaign("earlier", 5);
  CHECK(f.send("earlier", "s1", 0, {active_2_per_7d()}));
  // big-sale is due tomorrow for this recipient; the newsletter may not take the last slot.
  f.s->enqueue({make_message("big-sale", "s1", f.contact_id, day_ms)});
  CHECK_FALSE(f.send("newsletter", "s1", 1000, {active_2_per_7d()}));
  auto r = f.row("newsletter", "s1");
  CHECK(r.state == message_state::deferred);
  CHECK(r.reason == "frequency cap: active 2 per 7d (slot held for a higher-priority campaign)");
  CHECK(f.send("big-sale", "s1", day_ms, {active_2_per_7d()}));
  // Now the window is full: the newsletter waits for the first send to leave it.
  CHECK_FALSE(f.send("newsletter", "s1", day_ms + 60'000, {active_2_per_7d()}));
  CHECK(f.row("newsletter", "s1").due == at_ms(7 * day_ms));
}

STORE_TEST_CASE("a lower-priority message does not hold back a higher-priority one") {
  policy_fixture<store_backend> f;
  f.campaign("big-sale", 9);
  f.campaign("newsletter", 1);
  CHECK(f.send("newsletter", "s1", 0, {active_2_per_7d()}));
  f.s->enqueue({make_message("newsletter", "s2", f.contact_id, day_ms)});
  CHECK(f.send("big-sale", "s1", 1000, {active_2_per_7d()}));
}

STORE_TEST_CASE("a recipient's frequency preference caps marketing from every campaign") {
  policy_fixture<store_backend> f;
  f.campaign("a");
  f.campaign("b");
  f.s->set_preference(f.contact_id, {1, std::chrono::seconds(2592000)}, "test", at_ms(0));
  CHECK(f.send("a", "s1", 0));
  CHECK_FALSE(f.send("b", "s1", day_ms));
  auto r = f.row("b", "s1");
  CHECK(r.reason == "frequency cap: preference 1 per 30d");
  CHECK(r.due == at_ms(30 * day_ms));
}

STORE_TEST_CASE("a capped message whose slot frees after its validity expires instead of waiting") {
  policy_fixture<store_backend> f;
  f.campaign("a");
  f.campaign("b");
  CHECK(f.send("a", "s1", 0, {{"active 1 per 7d", 1, 7 * 24h}}));
  CHECK_FALSE(f.send("b", "s1", 1000, {{"active 1 per 7d", 1, 7 * 24h}}, at_ms(day_ms)));
  auto r = f.row("b", "s1");
  CHECK(r.state == message_state::expired);
  CHECK(r.reason.starts_with("frequency cap: active 1 per 7d; a slot frees only after"));
}

STORE_TEST_CASE(
    "a reply named in stop_on after the first send cancels the recipient's later steps") {
  policy_fixture<store_backend> f;
  f.campaign("seq", 5, "marketing", {}, "defer", {"reply:1"});
  // A reply before the campaign wrote to them does not count.
  f.reply(f.contact_id, "", "1", "1", -5);
  CHECK(f.send("seq", "s1", 0));
  CHECK(f.send("seq", "s2", day_ms));
  f.reply(f.contact_id, "seq", "1", " 1 ", day_ms + 5);
  CHECK_FALSE(f.send("seq", "s3", 2 * day_ms));
  auto r = f.row("seq", "s3");
  CHECK(r.state == message_state::suppressed);
  CHECK(r.reason == "stop_on reply:1");
}

STORE_TEST_CASE("an event named in stop_on cancels later steps; other events and replies do not") {
  policy_fixture<store_backend> f;
  f.campaign("seq", 5, "marketing", {}, "defer", {"event:purchase"});
  CHECK(f.send("seq", "s1", 0));
  f.event(f.contact_id, "page_view", 10);
  f.reply(f.contact_id, "seq", "1", "1", 10);
  CHECK(f.send("seq", "s2", day_ms));
  f.event(f.contact_id, "purchase", day_ms + 1);
  CHECK_FALSE(f.send("seq", "s3", 2 * day_ms));
  CHECK(f.row("seq", "s3").reason == "stop_on event:purchase");
}

STORE_TEST_CASE(
    "held-out recipients are stored suppressed and A/B statistics count replies and "
    "events per variant") {
  policy_fixture<store_backend> f;
  auto other =
      f.s->upsert_contacts({make_contact("+8613800000002"), make_contact("+8613800000003")});
  auto c = make_campaign("ab", "h-ab", {"s1"});
  c.templates.push_back({"s1", "B", 50, "sms", "b", "", {}, false, {}, {}});
  f.s->save_campaign(c);
  auto held = make_message("ab", "s1", other[1], 0);
  held.variant = "holdout";
  held.suppressed_reason = "holdout";
  auto b = make_message("ab", "s1", other[0], 0);
  b.variant = "B";
  CHECK(f.s->enqueue({held}) == 1);
  CHECK(f.send("ab", "s1", 0));  // contact 1, variant A
  f.s->enqueue({b});
  auto claimed = f.s->claim_due(at_ms(10), 10, at_ms(60'000), "t");
  REQUIRE(claimed.size() == 1);  // the held-out message is never claimed
  REQUIRE(f.s->mark_submitting({{claimed[0].id, "main", "b", 1, at_ms(10), {}}}).size() == 1);
  f.s->record_outcomes(
      {{claimed[0].id, message_state::delivered, "main", "C", "", std::nullopt, at_ms(20)}});
  f.reply(other[0], "ab", "1", "1", 100);
  f.event(other[1], "purchase", 100);
  f.event(f.contact_id, "purchase", 100);
  auto rows = f.s->messages({"ab", message_state::suppressed, 0});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].reason == "holdout");
  auto stats = f.s->ab_stats("ab");
  REQUIRE(stats.size() == 3);
  CHECK(stats[0].variant == "A");
  CHECK(stats[0].sent == 1);
  CHECK(stats[0].events.at("purchase") == 1);
  CHECK(stats[1].variant == "B");
  CHECK(stats[1].delivered == 1);
  CHECK(stats[1].replies.at("1") == 1);
  CHECK(stats[2].variant == "holdout");
  CHECK(stats[2].recipients == 1);
  CHECK(stats[2].sent == 0);
  CHECK(stats[2].events.at("purchase") == 1);
}

STORE_TEST_CASE("two intents for one recipient in the same call count against the cap in order") {
  // A flush holds intents of many messages; a capped message must see the ledger row of an
  // earlier intent of the same call.
  policy_fixture<store_backend> f;
  f.campaign("a");
  f.campaign("b");
  const cap_rule one_per_day{"active 1 per 1d", 1, 24h};
  f.s->enqueue(
      {make_message("a", "s1", f.contact_id, 0), make_message("b", "s1", f.contact_id, 0)});
  auto claimed = f.s->claim_due(at_ms(1000), 10, at_ms(60'000), "t");
  REQUIRE(claimed.size() == 2);
  std::vector<submit_intent> intents;
  for (const auto& c : claimed)
    intents.push_back({c.id, "main", "hi", 1, at_ms(1000), {one_per_day}});
  auto marked = f.s->mark_submitting(intents);
  REQUIRE(marked.size() == 1);
  CHECK(marked[0] == claimed[0].id);
  auto second = f.row(claimed[1].campaign, "s1");
  CHECK(second.state == message_state::deferred);
  CHECK(second.reason == "frequency cap: active 1 per 1d");
}

STORE_TEST_CASE("a message resent after a crash counts once against a cap, at its latest attempt") {
  // The store's side of the policy (engine/policy/send_policy.hpp): it lists each counted
  // message once, at its latest counted attempt.
  policy_fixture<store_backend> f;
  f.campaign("a");
  f.campaign("b");
  f.campaign("c");
  f.s->enqueue({make_message("a", "s1", f.contact_id, 0)});
  auto claimed = f.s->claim_due(at_ms(0), 1, at_ms(60'000), "t");
  REQUIRE(claimed.size() == 1);
  const auto id = claimed[0].id;
  REQUIRE(f.s->mark_submitting({{id, "main", "hi", 1, at_ms(0), {active_2_per_7d()}}}).size() == 1);
  // The engine dies with the request in flight: the attempt's outcome is unknown, and the
  // message is resent after the grace.
  f.s->recover_after_crash(at_ms(500), 0ms);
  claimed = f.s->claim_due(at_ms(1000), 1, at_ms(61'000), "t");
  REQUIRE(claimed.size() == 1);
  REQUIRE(claimed[0].id == id);
  REQUIRE(f.s->mark_submitting({{id, "main", "hi", 1, at_ms(1000), {active_2_per_7d()}}}).size() ==
          1);
  f.s->record_outcomes(
      {{id, message_state::submitted, "main", "C", "", std::nullopt, at_ms(1000)}});
  // Two counted attempts, one message: b still fits under 2 per 7d, c does not.
  CHECK(f.send("b", "s1", 2000, {active_2_per_7d()}));
  CHECK_FALSE(f.send("c", "s1", 3000, {active_2_per_7d()}));
  auto r = f.row("c", "s1");
  CHECK(r.reason == "frequency cap: active 2 per 7d");
  CHECK(r.due == at_ms(7 * day_ms + 1000));  // a's latest attempt leaves the window
}

// campaign plan: the forecast against stored contacts and the ledger, without writing.
namespace {

config::engine_config plan_engine() {
  return config::parse_engine_config(R"(
default_timezone: Asia/Shanghai
policy:
  quiet_hours: "21:00-08:00"
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

contact person(const std::string& phone, const std::string& tz, int last_active_days) {
  contact c;
  c.phone = phone;
  c.tags = {"member"};
  c.tz = tz;
  c.attributes["last_active_days"] = last_active_days;
  return c;
}

}  // namespace
STORE_TEST_CASE("plan forecasts sends per local day, deferrals for quiet hours and cap expiries") {
  store_backend backend;
  store* db = backend.open();
  db->upsert_contacts({person("+8613800000001", "Asia/Shanghai", 5),
                       person("+8613800000002", "Asia/Shanghai", 60),
                       person("+12025550100", "America/New_York", 60)});
  auto campaign = config::parse_campaign(R"(campaign: p
sender: shop
anchor: 2030-01-10
audience: { all_tags: [member] }
steps:
  - { id: one, at: "0d 07:00", sms: { text: hi } }
  - { id: two, at: "+1d 12:00", sms: { text: hi } }
)",
                                         "p.yaml");
  auto r = plan_campaign(campaign, plan_engine(), *db, *parse_iso("2030-01-09T00:00:00Z"), 4);
  CHECK(r.recipients == 3);
  // Step one at 07:00 local is in quiet hours: deferred to 08:00, sent that day. Step two goes
  // for everyone but the active recipient, whose 1-per-7d cap is used up (expired that day).
  CHECK(r.sends == 5);
  CHECK(r.deferrals == 3);  // quiet hours; the capped message expires at once (slot frees later)
  CHECK(r.suppressions == 1);
  REQUIRE(r.buckets.size() == 3);  // New York's 01-11 12:00 is 01-12 in Shanghai
  CHECK(r.buckets[0].date == "2030-01-10");
  CHECK(r.buckets[0].provider == "main");
  CHECK(r.buckets[0].sends == 3);
  CHECK(r.buckets[0].reasons.at("deferred: quiet hours 21:00-08:00") == 3);
  CHECK(r.buckets[1].date == "2030-01-11");
  CHECK(r.buckets[1].sends == 1);
  CHECK(r.buckets[2].date == "2030-01-12");
  CHECK(r.buckets[2].sends == 1);
  CHECK(r.buckets[1].reasons.at("suppressed: expired: frequency cap: active 1 per 7d") == 1);
  // Nothing was written.
  CHECK(db->messages({}).empty());
  CHECK(db->list_campaigns().empty());
}
