#include "engine/campaign/forecast.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <unordered_map>

#include "config/values.hpp"
#include "engine/policy/caps.hpp"
#include "engine/model/phone.hpp"
#include "engine/campaign/apply.hpp"
#include "engine/policy/send_policy.hpp"
#include "engine/policy/send_window.hpp"

namespace pigeon::engine::campaign {

using namespace std::chrono_literals;

namespace {

// A window decision's reason without the recipient-specific suffix, so reasons aggregate.
std::string general_reason(const std::string& reason) {
  auto cut = reason.find(" (recipient local");
  return cut == std::string::npos ? reason : reason.substr(0, cut);
}

}  // namespace

plan_report plan_campaign(const config::campaign_config& campaign,
                          const config::engine_config& engine, store& db, time_point from,
                          int days) {
  auto issues = validate_campaign(campaign, engine);
  if (!issues.empty()) throw config::config_error(std::move(issues));
  plan_report report;
  report.campaign = campaign.name;
  report.from = from;
  report.days = days;
  report.timezone = engine.default_timezone;

  const bool marketing = campaign.category == "marketing";
  policy::cap_policy caps(engine);
  std::optional<cap_rule> campaign_rule;
  if (campaign.caps) campaign_rule = policy::campaign_cap(campaign.caps->max, campaign.caps->per);
  std::optional<policy::clock_window> quiet;
  if (marketing && !engine.policy.quiet_hours.empty())
    quiet = policy::parse_window({}, engine.policy.quiet_hours);
  std::vector<std::optional<policy::clock_window>> windows;
  for (const auto& step : campaign.steps) {
    const auto& w = step.window ? step.window : campaign.window;
    windows.push_back(w ? policy::parse_window(w->days, w->between) : std::nullopt);
  }
  std::string provider;
  if (auto s = engine.senders.find(campaign.sender);
      s != engine.senders.end() && !s->second.route.empty())
    provider = s->second.route.front();

  // The ledger as far back as the longest rule reaches.
  std::chrono::milliseconds longest{0};
  for (const auto& f : engine.policy.frequency)
    longest = std::max<std::chrono::milliseconds>(longest, f.per);
  if (campaign_rule) longest = std::max(longest, campaign_rule->per);
  std::unordered_map<std::int64_t, std::vector<policy::counted_send>> ledger;
  if (marketing && longest.count() > 0) {
    db.for_each_capped_send(from - longest,
                            [&](std::int64_t id, const std::string& name, time_point at) {
                              ledger[id].push_back({at, name == campaign.name});
                            });
  }

  const auto* zone = policy::find_zone(engine.default_timezone);
  auto horizon_end = from + std::chrono::days(days);
  std::map<std::pair<std::string, std::string>, plan_bucket> buckets;
  auto bucket = [&](time_point t) -> plan_bucket* {
    if (t < from || t >= horizon_end) return nullptr;
    auto date = date::format("%F", date::floor<date::days>(zone->to_local(t)));
    auto& b = buckets[{date, provider}];
    b.date = date;
    b.provider = provider;
    return &b;
  };
  auto defer = [&](time_point t, const std::string& reason) {
    if (auto* b = bucket(t)) {
      ++b->deferrals;
      ++b->reasons["deferred: " + reason];
    }
  };
  auto suppress = [&](time_point t, const std::string& reason) {
    if (auto* b = bucket(t)) {
      ++b->suppressions;
      ++b->reasons["suppressed: " + reason];
    } else {
      ++report.after_horizon;
    }
  };

  // ab_test.sample: while the test is undecided, the recipients outside the sample wait for the
  // decision in the steps with variants; planned at the earliest decision (their first such
  // step's time + decide_after) or their step's time if later, valid as a release makes them
  // (store record_ab_decision).
  bool sampling = false;
  std::chrono::milliseconds decide_after{0};
  if (campaign.ab_test && campaign.ab_test->sample_percent < 100) {
    auto test = db.find_ab_test(campaign.name);
    sampling = !test || !test->decided_at;
    decide_after =
        config::parse_duration(campaign.ab_test->decide_after).value_or(std::chrono::seconds(0));
    report.ab_sample_percent = campaign.ab_test->sample_percent;
  }

  audience_filter audience(campaign.audience, engine);
  auto opted_out = db.opted_out_contacts();  // sorted; apply enqueues nothing for them
  db.for_each_contact([&](const contact& c) {
    if (!audience.matches(c, from)) return;
    ++report.recipients;
    if (std::binary_search(opted_out.begin(), opted_out.end(), c.id)) {
      ++report.opted_out;
      return;
    }
    const std::string tz(recipient_timezone(c.tz, c.phone, engine.default_timezone));
    auto& sends = ledger[c.id];
    const bool waits = sampling && !in_holdout(campaign.holdout, campaign.name, c.phone) &&
                       !in_ab_sample(campaign.ab_test->sample_percent, campaign.name, c.phone);
    // The earliest decision: the recipient's first step with variants + decide_after.
    std::optional<time_point> decision;
    for (std::size_t i = 0; waits && !decision && i < campaign.steps.size(); ++i)
      if (campaign.steps[i].variants.size() > 1)
        decision =
            std::max(*step_due(campaign.steps[i], campaign.anchor, tz, from), from) + decide_after;
    for (std::size_t i = 0; i < campaign.steps.size(); ++i) {
      // A follow-up step goes only to those who reply: nothing to forecast.
      if (config::follow_up_of(campaign, campaign.steps[i].id)) continue;
      auto due = *step_due(campaign.steps[i], campaign.anchor, tz, from);
      auto expires = end_of_local_day(due, tz);
      auto t = std::max(due, from);
      std::string last_reason = "validity passed";
      if (decision && campaign.steps[i].variants.size() > 1) {
        ++report.ab_held;
        defer(t, ab_held_reason);
        t = std::max(t, *decision);
        const auto day = std::chrono::days(1);
        if (expires < t + day) expires += day * ((t + day - expires + day - 1ms) / day);
      }
      // Each round moves t forward; a bounded number of rounds covers window, quiet hours and
      // cap deferrals (a message still waiting after them is past any one-day validity).
      for (int round = 0;; ++round) {
        if (t >= expires || round == 16) {
          suppress(t >= expires ? expires : t, "expired: " + last_reason);
          break;
        }
        // As in the dispatcher: a message whose next chance is past its validity expires now.
        auto d = policy::check_window(t, tz, windows[i], quiet);
        if (!d.open) {
          last_reason = general_reason(d.reason);
          if (d.next_open >= expires) {
            suppress(t, "expired: " + last_reason);
            break;
          }
          defer(t, last_reason);
          t = d.next_open;
          continue;
        }
        if (marketing) {
          // The policy at dispatch, on the sends made by then (the ledger's and this plan's).
          auto v = policy::decide(policy::simulated_send(
              campaign, campaign_rule, caps.rules_for(c, tz, t), sends, t, expires));
          if (v.what == policy::decision::suppressed) {
            suppress(t, v.reason);
            break;
          }
          if (v.what == policy::decision::expired) {
            suppress(t, "expired: " + v.rule);
            break;
          }
          if (v.what == policy::decision::deferred) {
            last_reason = v.rule;
            defer(t, v.rule);
            t = v.until;
            continue;
          }
        }
        if (auto* b = bucket(t)) {
          ++b->sends;
        } else {
          ++report.after_horizon;
        }
        sends.push_back({t, true});
        break;
      }
    }
  });
  for (auto& [key, b] : buckets) {
    report.sends += b.sends;
    report.deferrals += b.deferrals;
    report.suppressions += b.suppressions;
    report.buckets.push_back(std::move(b));
  }
  return report;
}

}  // namespace pigeon::engine::campaign
