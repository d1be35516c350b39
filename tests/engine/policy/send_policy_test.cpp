// policy::decide on hand-built facts: each rule of the send policy, its window edges and its
// reasons. What counts as a send (outcomes, a retried message once, transactional exempt) is the
// store's side: tests/store/conformance/policy_test.cpp.
#include <doctest/doctest.h>

#include "engine/policy/send_policy.hpp"

using namespace pigeon::engine;
using namespace std::chrono_literals;

namespace {

const time_point t0 = *parse_iso("2026-11-11T10:00:00Z");

cap_rule rule(const std::string& label, int max, std::chrono::milliseconds per) {
  return {label, max, per};
}

// A marketing message at t0 under the engine rule "active 2 per 7d".
policy::send_facts marketing() {
  policy::send_facts f;
  f.at = t0;
  f.marketing = true;
  f.engine_rules = {rule("active 2 per 7d", 2, 7 * 24h)};
  return f;
}

policy::counted_send sent(std::chrono::milliseconds ago, bool this_campaign = false) {
  return {t0 - ago, this_campaign};
}

}  // namespace

TEST_CASE("a message under every rule's limit passes") {
  auto f = marketing();
  f.sends = {sent(1h)};
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::pass);
  CHECK(v.reason.empty());
}

TEST_CASE("a direct message passes even where stop_on and every cap would hold it back") {
  auto f = marketing();
  f.direct = true;
  f.stop_on = {"reply:STOP"};
  f.first_send = t0 - 2h;
  f.stop_signals = {{"reply:STOP", t0 - 1h}};
  f.engine_rules = {rule("active 0 per 7d", 0, 7 * 24h)};
  CHECK(policy::decide(f).what == policy::decision::pass);
}

TEST_CASE("a stop_on reply or event at or after the campaign's first send suppresses") {
  policy::send_facts f;
  f.at = t0;
  f.stop_on = {"reply:STOP", "event:purchase"};
  f.first_send = t0 - 2h;
  f.stop_signals = {{"event:purchase", t0 - 2h}};  // the same instant as the first send counts
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::suppressed);
  CHECK(v.reason == "stop_on event:purchase");
  CHECK(v.rule == v.reason);

  f.stop_signals = {{"reply:STOP", t0 - 1h}, {"event:purchase", t0 - 30min}};
  CHECK(policy::decide(f).reason == "stop_on reply:STOP");  // the first listed decides
}

TEST_CASE("a stop_on signal before the first send, with no send yet or not named does not stop") {
  policy::send_facts f;
  f.at = t0;
  f.stop_on = {"reply:STOP"};
  f.stop_signals = {{"reply:STOP", t0 - 1h}};
  CHECK(policy::decide(f).what == policy::decision::pass);  // no first send
  f.first_send = t0 - 1h + 1ms;
  CHECK(policy::decide(f).what == policy::decision::pass);  // the reply came just before it
  f.first_send = t0 - 2h;
  f.stop_on = {"reply:QUIT"};
  CHECK(policy::decide(f).what == policy::decision::pass);  // not a trigger of this campaign
}

TEST_CASE("stop_on holds back every category but caps hold back only marketing") {
  policy::send_facts f;
  f.at = t0;
  f.engine_rules = {rule("active 0 per 7d", 0, 7 * 24h)};
  f.sends = {sent(1h), sent(2h), sent(3h)};
  CHECK(policy::decide(f).what == policy::decision::pass);
  f.stop_on = {"reply:STOP"};
  f.first_send = t0 - 2h;
  f.stop_signals = {{"reply:STOP", t0 - 1h}};
  CHECK(policy::decide(f).reason == "stop_on reply:STOP");
}

TEST_CASE("a send exactly one period ago has left the window but a millisecond later counts") {
  auto f = marketing();
  f.sends = {sent(7 * 24h), sent(1h)};
  CHECK(policy::decide(f).what == policy::decision::pass);
  f.sends = {sent(7 * 24h - 1ms), sent(1h)};
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::deferred);
  CHECK(v.reason == "frequency cap: active 2 per 7d");
  CHECK(v.until == t0 + 1ms);  // when that send leaves the window
}

TEST_CASE("a full rule defers until enough of its oldest sends have left the window") {
  auto f = marketing();
  // Four sends in the window (listed in any order), max 2: three must leave before one fits,
  // so a slot frees when the third-oldest (2 days ago) leaves.
  f.sends = {sent(1h), sent(3 * 24h), sent(5 * 24h), sent(2 * 24h)};
  auto v = policy::decide(f);
  REQUIRE(v.what == policy::decision::deferred);
  CHECK(v.until == t0 + 5 * 24h);
}

TEST_CASE("sends listed after the decision instant count as well") {
  // Another lane's send, committed a moment before this decision with a later timestamp.
  auto f = marketing();
  f.sends = {sent(1h), sent(-5ms)};
  CHECK(policy::decide(f).what == policy::decision::deferred);
}

TEST_CASE("the campaign's own cap counts only its own sends") {
  auto f = marketing();
  f.engine_rules.clear();
  f.campaign_cap = rule("campaign 1 per 1d", 1, 24h);
  f.sends = {sent(1h, false), sent(2h, false)};
  CHECK(policy::decide(f).what == policy::decision::pass);
  f.sends.push_back(sent(3h, true));
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::deferred);
  CHECK(v.reason == "frequency cap: campaign 1 per 1d");
  CHECK(v.until == t0 - 3h + 24h);
}

TEST_CASE("a recipient's preference counts every campaign's sends") {
  auto f = marketing();
  f.engine_rules.clear();
  f.preference = rule("preference 1 per 1d", 1, 24h);
  f.sends = {sent(23h, false)};
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::deferred);
  CHECK(v.reason == "frequency cap: preference 1 per 1d");
  CHECK(v.until == t0 + 1h);
}

TEST_CASE("a rule with max 0 suppresses whatever on_cap and validity say") {
  auto f = marketing();
  f.engine_rules.push_back(rule("dormant 0 per 30d", 0, 30 * 24h));
  f.expires = t0 + 1min;
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::suppressed);
  CHECK(v.reason == "frequency cap: dormant 0 per 30d");
}

TEST_CASE("of several blocking rules the one freeing a slot latest decides") {
  auto f = marketing();
  f.campaign_cap = rule("campaign 1 per 3d", 1, 3 * 24h);
  f.preference = rule("preference 1 per 12h", 1, 12h);
  f.sends = {sent(6 * 24h, true), sent(2h, true)};
  // active 2 per 7d frees at t0+1d, the campaign's cap at t0+70h, the preference at t0+10h.
  auto v = policy::decide(f);
  REQUIRE(v.what == policy::decision::deferred);
  CHECK(v.reason == "frequency cap: campaign 1 per 3d");
  CHECK(v.until == t0 + 70h);

  // A tie keeps the rule listed first: engine rules, the campaign's, the preference.
  f.campaign_cap = rule("campaign 1 per 26h", 1, 26h);  // frees at t0+1d like active 2 per 7d
  v = policy::decide(f);
  CHECK(v.reason == "frequency cap: active 2 per 7d");
  CHECK(v.until == t0 + 24h);
}

TEST_CASE("a waiting higher-priority message due within the window holds the last slot") {
  auto f = marketing();
  f.sends = {sent(1h)};
  f.waiting_higher = {t0 + 2h, t0 + 8 * 24h};  // the second is due after the window
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::deferred);
  CHECK(v.reason == "frequency cap: active 2 per 7d (slot held for a higher-priority campaign)");
  CHECK(v.until == t0 + 2h + 1min);  // look again once it is due

  f.waiting_higher = {t0 - 10min};  // already due: look again a minute from now
  CHECK(policy::decide(f).until == t0 + 1min);

  f.waiting_higher = {t0 + 7 * 24h};  // due exactly when the window ends: not held
  CHECK(policy::decide(f).what == policy::decision::pass);
}

TEST_CASE("the campaign's own cap keeps no slot for other campaigns' messages") {
  auto f = marketing();
  f.engine_rules.clear();
  f.campaign_cap = rule("campaign 1 per 1d", 1, 24h);
  f.waiting_higher = {t0 + 1h};
  CHECK(policy::decide(f).what == policy::decision::pass);
  f.preference = rule("preference 1 per 1d", 1, 24h);
  CHECK(policy::decide(f).reason ==
        "frequency cap: preference 1 per 1d (slot held for a higher-priority campaign)");
}

TEST_CASE("on_cap drop suppresses a capped message instead of deferring it") {
  auto f = marketing();
  f.drop_on_cap = true;
  f.sends = {sent(1h), sent(2h)};
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::suppressed);
  CHECK(v.reason == "frequency cap: active 2 per 7d");
}

TEST_CASE("a slot freeing at or after the message's validity expires it, naming the validity") {
  auto f = marketing();
  f.sends = {sent(1h), sent(7 * 24h - 2h)};  // frees at t0 + 2h
  f.expires = t0 + 2h;
  auto v = policy::decide(f);
  CHECK(v.what == policy::decision::expired);
  CHECK(v.rule == "frequency cap: active 2 per 7d");
  CHECK(v.reason ==
        "frequency cap: active 2 per 7d; a slot frees only after its validity "
        "(2026-11-11T12:00:00.000Z)");
  f.expires = t0 + 2h + 1ms;
  v = policy::decide(f);
  CHECK(v.what == policy::decision::deferred);
  CHECK(v.until == t0 + 2h);
}

TEST_CASE("the cap facts reach as far as the longest rule that can admit a send") {
  auto f = marketing();
  f.campaign_cap = rule("campaign 1 per 30d", 1, 30 * 24h);
  f.preference = rule("preference 3 per 1d", 3, 24h);
  f.engine_rules.push_back(rule("holidays 0 per 60d", 0, 60 * 24h));  // suppresses, reads nothing
  auto r = policy::cap_reach(f);
  CHECK(r.sends == 30 * 24h);
  CHECK(r.waiting == 7 * 24h);  // the campaign's own cap keeps no slots
  f.marketing = false;
  CHECK(policy::cap_reach(f).sends.count() == 0);
  f.marketing = true;
  f.direct = true;
  CHECK(policy::cap_reach(f).waiting.count() == 0);
}
