#include "engine/policy/caps.hpp"

#include <date/date.h>
#include <date/tz.h>

#include "engine/policy/send_window.hpp"

namespace pigeon::engine::policy {

std::string format_period(std::chrono::milliseconds per) {
  auto ms = per.count();
  struct unit {
    std::int64_t ms;
    const char* suffix;
  };
  for (auto u : {unit{86'400'000, "d"}, unit{3'600'000, "h"}, unit{60'000, "m"}, unit{1000, "s"}}) {
    if (ms > 0 && ms % u.ms == 0) return std::to_string(ms / u.ms) + u.suffix;
  }
  return std::to_string(ms) + "ms";
}

cap_rule campaign_cap(int max, std::chrono::milliseconds per) {
  return {"campaign " + std::to_string(max) + " per " + format_period(per), max, per};
}

cap_rule preference_cap(int max, std::chrono::milliseconds per) {
  return {"preference " + std::to_string(max) + " per " + format_period(per), max, per};
}

policy::send_facts simulated_send(const config::campaign_config& campaign,
                                  const std::optional<cap_rule>& campaign_rule,
                                  std::vector<cap_rule> engine_rules,
                                  const std::vector<policy::counted_send>& sends, time_point at,
                                  time_point expires) {
  policy::send_facts f;
  f.at = at;
  f.marketing = campaign.category == "marketing";
  f.drop_on_cap = campaign.on_cap == "drop";
  f.expires = expires;
  f.engine_rules = std::move(engine_rules);
  f.campaign_cap = campaign_rule;
  for (const auto& s : sends)
    if (s.at <= at) f.sends.push_back(s);
  return f;
}

cap_policy::cap_policy(const config::engine_config& engine) {
  std::vector<config::config_issue> issues = frequency_issues(engine);
  for (const auto& f : engine.policy.frequency) {
    rule r;
    r.cap.max = f.max;
    r.cap.per = f.per;
    r.cap.label = (f.tier.empty() ? f.calendar : f.tier) + " " + std::to_string(f.max) + " per " +
                  format_period(f.per);
    if (!f.tier.empty()) {
      auto it = engine.policy.tiers.find(f.tier);
      if (it == engine.policy.tiers.end()) {
        issues.push_back({f.where, "policy.frequency: tier '" + f.tier + "' is not defined"});
        continue;
      }
      try {
        r.tier = campaign::audience_expr::compile(it->second);
      } catch (const campaign::audience_expr_error& e) {
        issues.push_back({f.where, "policy.tiers." + f.tier + ": " + e.what()});
        continue;
      }
    } else {
      auto it = engine.policy.calendars.find(f.calendar);
      if (it != engine.policy.calendars.end()) r.dates.insert(it->second.begin(), it->second.end());
    }
    rules_.push_back(std::move(r));
  }
  if (!issues.empty()) throw config::config_error(std::move(issues));
}

std::vector<cap_rule> cap_policy::rules_for(const contact& c, const std::string& tz,
                                            time_point now) const {
  std::vector<cap_rule> out;
  std::string today;  // the recipient's local date, computed once if a calendar rule needs it
  for (const auto& r : rules_) {
    if (r.tier) {
      if (r.tier->matches(c, now)) out.push_back(r.cap);
      continue;
    }
    if (today.empty()) {
      auto local = find_zone(tz)->to_local(now);
      today = date::format("%F", date::floor<date::days>(local));
    }
    if (r.dates.contains(today)) out.push_back(r.cap);
  }
  return out;
}

std::vector<config::config_issue> frequency_issues(const config::engine_config& engine) {
  std::vector<config::config_issue> issues;
  const auto& rules = engine.policy.frequency;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = rules[j];
      const auto& b = rules[i];
      if (a.tier != b.tier || a.calendar != b.calendar) continue;
      std::string scope = a.tier.empty() ? "calendar " + a.calendar : "tier " + a.tier;
      std::string where = "policy.frequency[" + std::to_string(i) + "]: ";
      if (a.per == b.per) {
        issues.push_back({b.where, where + (a.max == b.max ? "repeats" : "contradicts") +
                                       " the rule for " + scope + " at " + a.where.to_string() +
                                       " (same period " + format_period(a.per) + ", max " +
                                       std::to_string(a.max) + " vs " + std::to_string(b.max) +
                                       ")"});
        break;  // one issue per rule is enough to act on
      }
      const auto& shorter = a.per < b.per ? a : b;
      const auto& longer = a.per < b.per ? b : a;
      if (shorter.max >= longer.max) {
        issues.push_back({b.where, where + "overlaps the rule for " + scope + " at " +
                                       a.where.to_string() + ": " + std::to_string(shorter.max) +
                                       " per " + format_period(shorter.per) +
                                       " can never bind next to " + std::to_string(longer.max) +
                                       " per " + format_period(longer.per)});
        break;
      }
    }
  }
  return issues;
}

}  // namespace pigeon::engine::policy
