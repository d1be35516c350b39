#include "engine/policy/caps.hpp"

#include <doctest/doctest.h>

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::policy;

namespace {

config::engine_config engine_with(const std::string& frequency) {
  return config::parse_engine_config(R"(
policy:
  tiers:
    active: "last_active_days <= 30"
    dormant: "last_active_days > 90"
  calendars: { holidays: [2026-11-11] }
  frequency:
)" + frequency,
                                     "engine.yaml");
}

contact with_activity(int days) {
  contact c;
  c.phone = "+8613800000001";
  c.attributes["last_active_days"] = days;
  return c;
}

std::vector<std::string> labels(const std::vector<cap_rule>& rules) {
  std::vector<std::string> out;
  for (const auto& r : rules) out.push_back(r.label);
  return out;
}

time_point at(const char* iso) { return *parse_iso(iso); }

}  // namespace

TEST_CASE("a tier rule applies to recipients in that tier only") {
  cap_policy p(
      engine_with("    - { tier: active, max: 2, per: 7d }\n"
                  "    - { tier: dormant, max: 1, per: 30d }\n"));
  auto now = at("2026-11-05T02:00:00Z");
  CHECK(labels(p.rules_for(with_activity(3), "Asia/Shanghai", now)) ==
        std::vector<std::string>{"active 2 per 7d"});
  CHECK(labels(p.rules_for(with_activity(120), "Asia/Shanghai", now)) ==
        std::vector<std::string>{"dormant 1 per 30d"});
  CHECK(p.rules_for(with_activity(60), "Asia/Shanghai", now).empty());
  auto rule = p.rules_for(with_activity(3), "UTC", now).at(0);
  CHECK(rule.max == 2);
  CHECK(rule.per == std::chrono::hours(24 * 7));
}

TEST_CASE("a calendar rule applies on its dates in the recipient's local time") {
  cap_policy p(engine_with("    - { calendar: holidays, max: 2, per: 1d }\n"));
  // 2026-11-10 20:00 UTC is already 11 November in Shanghai but not yet in New York.
  auto now = at("2026-11-10T20:00:00Z");
  CHECK(labels(p.rules_for(with_activity(3), "Asia/Shanghai", now)) ==
        std::vector<std::string>{"holidays 2 per 1d"});
  CHECK(p.rules_for(with_activity(3), "America/New_York", now).empty());
  CHECK(labels(p.rules_for(with_activity(3), "America/New_York", at("2026-11-11T12:00:00Z"))) ==
        std::vector<std::string>{"holidays 2 per 1d"});
}

TEST_CASE("overlapping or contradictory frequency rules are refused with their place") {
  auto issues =
      frequency_issues(engine_with("    - { tier: active, max: 2, per: 7d }\n"
                                   "    - { tier: active, max: 3, per: 7d }\n"
                                   "    - { tier: active, max: 5, per: 1d }\n"
                                   "    - { tier: dormant, max: 1, per: 7d }\n"));
  REQUIRE(issues.size() == 2);
  CHECK(issues[0].to_string() ==
        "engine.yaml:9:7: policy.frequency[1]: contradicts the rule for tier active at "
        "engine.yaml:8:7 (same period 7d, max 2 vs 3)");
  CHECK(issues[1].to_string() ==
        "engine.yaml:10:7: policy.frequency[2]: overlaps the rule for tier active at "
        "engine.yaml:8:7: 5 per 1d can never bind next to 2 per 7d");
  CHECK_THROWS_AS(cap_policy(engine_with("    - { tier: active, max: 2, per: 7d }\n"
                                         "    - { tier: active, max: 2, per: 7d }\n")),
                  config::config_error);
  CHECK(frequency_issues(engine_with("    - { tier: active, max: 2, per: 7d }\n"
                                     "    - { tier: active, max: 1, per: 1d }\n"))
            .empty());
}

TEST_CASE("periods are written in the largest whole unit") {
  CHECK(format_period(std::chrono::hours(24 * 7)) == "7d");
  CHECK(format_period(std::chrono::hours(36)) == "36h");
  CHECK(format_period(std::chrono::minutes(90)) == "90m");
  CHECK(format_period(std::chrono::seconds(45)) == "45s");
}
