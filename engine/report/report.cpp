#include "engine/report/report.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/inbound/replies.hpp"
#include "engine/policy/caps.hpp"

namespace pigeon::engine::report {

proportion wilson(std::int64_t count, std::int64_t base) {
  proportion p{count, base, 0, 0, 0};
  if (base <= 0) return p;
  // Wilson score interval, z = 1.96 (95%): stays inside [0, 1] and is sensible for small
  // samples and for rates near 0 or 1, unlike the normal approximation.
  const double z = 1.959963984540054, n = static_cast<double>(base);
  const double rate = static_cast<double>(count) / n;
  const double denom = 1 + z * z / n;
  const double centre = (rate + z * z / (2 * n)) / denom;
  const double half = z * std::sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denom;
  p.rate = rate;
  // At 0 and at n of n the bound is exactly 0 or 1; rounding would leave 0.9999999999999999.
  p.low = count == 0 ? 0.0 : std::max(0.0, centre - half);
  p.high = count == base ? 1.0 : std::min(1.0, centre + half);
  return p;
}

namespace {

constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t day_ms = 24 * hour_ms;

funnel_row make_row(std::string step, std::string variant, report_counts c) {
  funnel_row r;
  r.step = std::move(step);
  r.variant = std::move(variant);
  r.sent = wilson(c.sent, c.queued);
  r.failed = wilson(c.failed, c.queued);
  r.expired = wilson(c.expired, c.queued);
  r.suppressed = wilson(c.suppressed, c.queued);
  r.delivered = wilson(c.delivered, c.sent);
  r.undelivered = wilson(c.undelivered, c.sent);
  r.replied = wilson(c.replied, c.sent);
  r.converted = wilson(c.converted, c.sent);
  r.opted_out = wilson(c.opted_out, c.sent);
  for (const auto& [k, n] : c.replied_by_keyword) r.replied_by_keyword[k] = wilson(n, c.sent);
  r.counts = std::move(c);
  return r;
}

void add_counts(report_counts& into, const report_counts& c) {
  into.queued += c.queued;
  into.sent += c.sent;
  into.delivered += c.delivered;
  into.undelivered += c.undelivered;
  into.failed += c.failed;
  into.expired += c.expired;
  into.suppressed += c.suppressed;
  into.pending += c.pending;
  into.replied += c.replied;
  into.opted_out += c.opted_out;
  into.converted += c.converted;
  into.segments += c.segments;
  for (const auto& [k, n] : c.suppressed_by_reason) into.suppressed_by_reason[k] += n;
  for (const auto& [k, n] : c.replied_by_keyword) into.replied_by_keyword[k] += n;
}

// Nearest-rank percentile of sorted values.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::vector<timeline_point> timeline(const std::map<std::int64_t, report_hour>& hours,
                                     std::string& bucket) {
  std::vector<timeline_point> out;
  bucket = "hour";
  if (hours.empty()) return out;
  const std::int64_t first = hours.begin()->first, last = hours.rbegin()->first;
  const std::int64_t unit = last - first <= 72 * hour_ms ? hour_ms : day_ms;
  if (unit == day_ms) bucket = "day";
  auto floor_unit = [&](std::int64_t ms) { return (ms >= 0 ? ms : ms - unit + 1) / unit * unit; };
  // Every bucket from the first to the last, empty ones too: the chart's x axis is time.
  for (std::int64_t at = floor_unit(first); at <= last; at += unit)
    out.push_back({time_point(std::chrono::milliseconds(at)), {}});
  for (const auto& [at, h] : hours) {
    auto& p = out[static_cast<std::size_t>((floor_unit(at) - floor_unit(first)) / unit)].counts;
    p.sent += h.sent;
    p.delivered += h.delivered;
    p.replied += h.replied;
  }
  return out;
}

// A stop_on trigger or A/B metric that is a conversion goal: "event:NAME", or "reply:K" (K as
// replies are matched: normalised, upper case). Others (opt_out, delivered) are not.
void add_goal(const std::string& trigger, report_query& q, std::vector<std::string>& goals) {
  std::string goal;
  if (trigger.starts_with("event:")) {
    goal = trigger;
  } else if (trigger.starts_with("reply:")) {
    goal = "reply:" + inbound::normalize_reply(trigger.substr(6));
  } else {
    return;
  }
  if (std::find(goals.begin(), goals.end(), goal) != goals.end()) return;
  goals.push_back(goal);
  (goal.starts_with("event:") ? q.goal_events : q.goal_keywords).push_back(goal.substr(6));
}

// The A/B test as the report counts it: each variant's rows in the steps with variants (and the
// holdout's), summed; conversions on the metric within the reply window of a send. Not
// store::ab_stats (per recipient over the whole queue: seconds at a million messages).
ab_section ab_from_funnel(const stored_campaign& c, const std::vector<funnel_row>& funnel,
                          const ab_decision& test) {
  std::map<std::string, int> variants_of;
  for (const auto& t : c.templates) ++variants_of[t.step];
  ab_section ab;
  auto stats_of = [&](const std::string& variant) -> variant_stats& {
    for (auto& v : ab.variants)
      if (v.variant == variant) return v;
    ab.variants.push_back({variant, 0, 0, 0, {}, {}});
    return ab.variants.back();
  };
  for (const auto& row : funnel) {
    if (row.variant != "holdout" && variants_of[row.step] < 2) continue;
    auto& v = stats_of(row.variant);
    v.recipients += row.counts.queued;
    v.sent += row.counts.sent;
    v.delivered += row.counts.delivered;
    for (const auto& [goal, n] : row.counts.converted_by_goal) {
      if (goal.starts_with("reply:")) v.replies[goal.substr(6)] += n;
      if (goal.starts_with("event:")) v.events[goal.substr(6)] += n;
    }
  }
  ab.comparison = campaign::compare_variants(ab.variants, test.metric);
  for (std::size_t i = 0; i < ab.variants.size(); ++i) {
    const auto& v = ab.variants[i];
    ab.rates.push_back(wilson(ab.comparison.conversions[i].second,
                              v.variant == "holdout" ? v.recipients : v.sent));
  }
  ab.decision = test;
  return ab;
}

}  // namespace

price_list prices_from(const config::engine_config& cfg) {
  price_list out;
  for (const auto& [name, p] : cfg.providers)
    if (p.price_per_segment) out[name] = {*p.price_per_segment, p.currency};
  return out;
}

std::string campaign_names(campaign_store& db) {
  std::string names;
  for (const auto& c : db.list_campaigns()) names += (names.empty() ? "" : ", ") + c.name;
  return names.empty() ? "(none yet)" : names;
}

std::optional<campaign_report> build_report(store& db, const std::string& campaign,
                                            const price_list& prices, time_point now) {
  auto c = db.find_campaign(campaign);
  if (!c) return std::nullopt;
  campaign_report r;
  r.campaign = c->name;
  r.version = c->version;
  r.state = c->state;
  r.category = c->category;
  r.generated_at = now;
  r.window = c->replies ? c->replies->valid_for : reply_config{}.valid_for;
  if (db.journey_clock(c->name)) r.journey = db.journey_statistics(c->name, now);
  report_query q{c->name, r.window, {}, {}};
  auto test = db.find_ab_test(c->name);
  if (test) add_goal(test->metric, q, r.conversion_goals);
  for (const auto& trigger : c->stop_on) add_goal(trigger, q, r.conversion_goals);
  auto facts = db.collect_report(q);

  // Rows in the campaign file's order, then any step × variant only older versions had.
  std::vector<report_step_key> order;
  for (const auto& t : c->templates) {
    report_step_key k{t.step, t.variant};
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  }
  for (const auto& [k, _] : facts.cells)
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  report_counts total;
  for (const auto& k : order) {
    auto it = facts.cells.find(k);
    auto counts = it == facts.cells.end() ? report_counts{} : it->second;
    add_counts(total, counts);
    r.funnel.push_back(make_row(k.step, k.variant, std::move(counts)));
  }
  r.total = make_row("", "", std::move(total));

  if (test) r.ab = ab_from_funnel(*c, r.funnel, *test);

  r.timeline = timeline(facts.hours, r.timeline_bucket);
  auto& l = facts.latencies_ms;
  std::sort(l.begin(), l.end());
  r.latency = {static_cast<std::int64_t>(l.size()),
               percentile(l, 0.5),
               percentile(l, 0.9),
               percentile(l, 0.95),
               percentile(l, 0.99),
               l.empty() ? 0 : l.back()};
  r.carrier_errors = std::move(facts.errors);
  for (const auto& [provider, segments] : facts.segments_by_provider) {
    if (provider.empty()) continue;
    provider_cost pc{provider, segments, std::nullopt, "", std::nullopt};
    if (auto it = prices.find(provider); it != prices.end()) {
      pc.price_per_segment = it->second.first;
      pc.currency = it->second.second;
      pc.cost = it->second.first * static_cast<double>(segments);
      r.cost_total[pc.currency] += *pc.cost;
    }
    r.cost.push_back(std::move(pc));
  }
  for (auto& [key, counts] : facts.days)
    r.days.push_back({key.first, key.second.step, key.second.variant, std::move(counts)});
  std::stable_sort(r.days.begin(), r.days.end(), [&](const day_row& a, const day_row& b) {
    if (a.day != b.day) return a.day < b.day;
    auto pos = [&](const day_row& d) {
      return std::find(order.begin(), order.end(), report_step_key{d.step, d.variant}) -
             order.begin();
    };
    return pos(a) < pos(b);
  });
  return r;
}

}  // namespace pigeon::engine::report
