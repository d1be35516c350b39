#include "engine/campaign/apply.hpp"

#include <doctest/doctest.h>

#include <map>

#include "engine/campaign/compose.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::campaign;

namespace {
config::step_config step_at(std::string at) {
  config::step_config s;
  s.id = "s";
  s.at = std::move(at);
  s.kind = "sms";
  s.variants.push_back({"A", 100, "hi", {}, {}, {}});
  return s;
}
time_point at(const char* iso) { return *parse_iso(iso); }
}  // namespace

TEST_CASE("a relative step time is the anchor's day offset at the recipient's local time") {
  auto now = at("2026-11-01T00:00:00Z");
  CHECK(step_due(step_at("-7d 10:30"), "2026-11-11", "Asia/Shanghai", now) ==
        at("2026-11-04T02:30:00Z"));
  CHECK(step_due(step_at("0d 15:00"), "2026-11-11", "America/New_York", now) ==
        at("2026-11-11T20:00:00Z"));
  CHECK(step_due(step_at("now"), "", "UTC", now) == now);
  CHECK(step_due(step_at("2026-11-11T10:30:00+08:00"), "", "UTC", now) ==
        at("2026-11-11T02:30:00Z"));
  CHECK(step_due(step_at("2026-11-11 10:30"), "", "Europe/London", now) ==
        at("2026-11-11T10:30:00Z"));
  CHECK_FALSE(step_due(step_at("next tuesday"), "2026-11-11", "UTC", now));
}

TEST_CASE("a follow-up step's time counts from the reply in the recipient's zone") {
  // 14:00 in Shanghai.
  auto reply = at("2026-12-10T06:00:00Z");
  CHECK(follow_up_due("now", reply, "Asia/Shanghai") == reply);
  CHECK(follow_up_due("0d", reply, "Asia/Shanghai") == reply);
  CHECK(follow_up_due("+2h", reply, "Asia/Shanghai") == at("2026-12-10T08:00:00Z"));
  CHECK(follow_up_due("+30m", reply, "Asia/Shanghai") == at("2026-12-10T06:30:00Z"));
  CHECK(follow_up_due("+1d", reply, "Asia/Shanghai") == at("2026-12-11T06:00:00Z"));
  // 10:00 local the next day; in New York the reply's local date is still the 10th.
  CHECK(follow_up_due("+1d 10:00", reply, "Asia/Shanghai") == at("2026-12-11T02:00:00Z"));
  CHECK(follow_up_due("+1d 10:00", reply, "America/New_York") == at("2026-12-11T15:00:00Z"));
  // Same day at a time already past: at the reply, never before it.
  CHECK(follow_up_due("0d 10:00", reply, "Asia/Shanghai") == reply);
  CHECK(follow_up_due("0d 18:00", reply, "Asia/Shanghai") == at("2026-12-10T10:00:00Z"));
  CHECK_FALSE(follow_up_due("-1d 10:00", reply, "UTC"));
  CHECK_FALSE(follow_up_due("2026-12-12T10:00:00Z", reply, "UTC"));
  CHECK_FALSE(follow_up_due("soon", reply, "UTC"));
}

TEST_CASE("a step time in a spring-forward gap goes out at the first instant after the gap") {
  // 2026-03-08 02:30 does not exist in New York: clocks jump from 02:00 to 03:00 EDT.
  CHECK(step_due(step_at("0d 02:30"), "2026-03-08", "America/New_York", {}) ==
        at("2026-03-08T07:00:00Z"));
}

TEST_CASE("a step time in a fall-back overlap takes the earlier of the two instants") {
  // 2026-11-01 01:30 happens twice in New York; the first is EDT (UTC-4).
  CHECK(step_due(step_at("0d 01:30"), "2026-11-01", "America/New_York", {}) ==
        at("2026-11-01T05:30:00Z"));
}

TEST_CASE("a step expires at the end of the recipient's local day") {
  CHECK(end_of_local_day(at("2026-11-04T02:30:00Z"), "Asia/Shanghai") ==
        at("2026-11-04T16:00:00Z"));
}

TEST_CASE("variant choice is deterministic per recipient and follows the weights") {
  auto s = step_at("now");
  s.variants = {{"A", 80, "a", {}, {}, {}}, {"B", 20, "b", {}, {}, {}}};
  std::map<std::string, int> counts;
  for (int i = 0; i < 10000; ++i) {
    auto phone = "+86139" + std::to_string(10000000 + i);
    auto v = choose_variant(s, "double11", phone);
    CHECK(v == choose_variant(s, "double11", phone));
    ++counts[v];
  }
  CHECK(counts["A"] > 7600);
  CHECK(counts["A"] < 8400);
  CHECK(counts["B"] == 10000 - counts["A"]);
}

TEST_CASE("the audience requires all tags, one of any tags and none of the excluded tags") {
  config::audience_config a;
  a.all_tags = {"member"};
  a.any_tags = {"coffee", "tea"};
  a.none_tags = {"staff"};
  audience_filter f(a, config::engine_config{});
  contact c;
  c.tags = {"member", "tea"};
  CHECK(f.matches(c, {}));
  c.tags = {"member"};
  CHECK_FALSE(f.matches(c, {}));
  c.tags = {"member", "coffee", "staff"};
  CHECK_FALSE(f.matches(c, {}));
  c.tags = {"tea"};
  CHECK_FALSE(f.matches(c, {}));
}

TEST_CASE("where expressions and engine tiers narrow the audience") {
  config::engine_config engine;
  engine.policy.tiers = {{"active", "last_active_days <= 30"},
                         {"dormant", "last_active_days > 90"}};
  config::audience_config a;
  a.where = {"city in [shanghai, hangzhou]", "tier = active"};
  audience_filter f(a, engine);
  auto now = at("2026-11-23T00:00:00Z");
  contact c;
  c.attributes["city"] = "shanghai";
  c.attributes["last_active_at"] = "2026-11-20T00:00:00.000Z";
  CHECK(f.matches(c, now));
  c.attributes["last_active_at"] = "2026-06-01T00:00:00.000Z";  // dormant now
  CHECK_FALSE(f.matches(c, now));
  c.attributes["last_active_at"] = "2026-11-20T00:00:00.000Z";
  c.attributes["city"] = "beijing";
  CHECK_FALSE(f.matches(c, now));
}

TEST_CASE("a bad where expression is reported at its place in the campaign file") {
  config::audience_config a;
  a.where = {"city ~ shanghai"};
  a.where_locations = {{"c.yaml", 12, 11}};
  auto issues = audience_issues(a, config::engine_config{});
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].where.file == "c.yaml");
  CHECK(issues[0].where.line == 12);
  CHECK(issues[0].where.column == 11 + 6);
  CHECK_THROWS_AS(audience_filter(a, config::engine_config{}), config::config_error);
}

TEST_CASE("the signature is prefixed and the opt-out hint appended only to marketing SMS") {
  CHECK(compose_text("【咖啡】", "回T退订", true, "今晚闪购") == "【咖啡】今晚闪购回T退订");
  CHECK(compose_text("[Shop]", "Reply STOP to opt out", true, "Hi") ==
        "[Shop]Hi Reply STOP to opt out");
  CHECK(compose_text("[Shop]", "Reply STOP to opt out", false, "Your code is 1234") ==
        "[Shop]Your code is 1234");
}

TEST_CASE("contact variables expose attributes as text, numbers included") {
  contact c;
  c.phone = "+8613910008411";
  c.attributes["first_name"] = "王芳";
  c.attributes["visits"] = 12;
  contact_variables v(c);
  CHECK(v.find("first_name") == std::optional<std::string_view>("王芳"));
  CHECK(v.find("contact.visits") == std::optional<std::string_view>("12"));
  CHECK(v.find("phone") == std::optional<std::string_view>("+8613910008411"));
  CHECK_FALSE(v.find("coupon"));
}

TEST_CASE("smart encoding is used only when it saves segments") {
  // 70 characters with a curly apostrophe: UCS-2 would need 1 segment anyway, so keep it.
  std::string fits = std::string(69, 'a') + "\u2019";
  std::string kept = fits;
  apply_smart_encoding(kept);
  CHECK(kept == fits);
  // 100 characters: UCS-2 needs 2 segments, the GSM-7 look-alike needs 1.
  std::string longer = "It\u2019s " + std::string(95, 'a');
  apply_smart_encoding(longer);
  CHECK(longer == "It's " + std::string(95, 'a'));
}

TEST_CASE("a step already over in every time zone is reported at its place; later ones are not") {
  auto c = config::parse_campaign(R"(campaign: late
sender: s
anchor: 2026-11-11
steps:
  - { id: gone, at: "-2d 10:30", sms: { text: hi } }
  - { id: today, at: "0d 10:30", sms: { text: hi } }
  - { id: now, at: now, sms: { text: hi } }
)",
                                  "late.yaml");
  // 2026-11-11 12:00 UTC: 9 November is over everywhere; 11 November is not over anywhere.
  auto issues = past_step_issues(c, at("2026-11-11T12:00:00Z"));
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].to_string().starts_with(
      "late.yaml:5:21: steps[0].at: '-2d 10:30' is already past in every time zone"));
  // Until the end of that day in UTC-12 (12:00 UTC on the 10th), a recipient might still get it.
  CHECK(past_step_issues(c, at("2026-11-10T11:00:00Z")).empty());
}

TEST_CASE("a window with impossible clock times is an error at its place") {
  CHECK_THROWS_WITH_AS(config::parse_campaign(R"(campaign: w
sender: s
window: { between: "25:00-26:00" }
steps: [{ id: a, at: now, sms: { text: hi } }]
)",
                                              "w.yaml"),
                       doctest::Contains("w.yaml:3:20: window.between: expected HH:MM-HH:MM, got "
                                         "'25:00-26:00'"),
                       config::config_error);
}

TEST_CASE("a holdout takes about its share of recipients, the same ones every time") {
  int held = 0;
  for (int i = 0; i < 10000; ++i) {
    auto phone = "+86139" + std::to_string(10000000 + i);
    bool h = in_holdout(10, "promo", phone);
    CHECK(h == in_holdout(10, "promo", phone));
    held += h ? 1 : 0;
  }
  CHECK(held > 850);
  CHECK(held < 1150);
  CHECK_FALSE(in_holdout(0, "promo", "+8613900000000"));
}
