#include "engine/ab_report.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace pigeon::engine {

std::optional<double> two_proportion_p_value(std::int64_t x1, std::int64_t n1, std::int64_t x2,
                                             std::int64_t n2) {
  if (n1 <= 0 || n2 <= 0) return std::nullopt;
  double p1 = static_cast<double>(x1) / static_cast<double>(n1);
  double p2 = static_cast<double>(x2) / static_cast<double>(n2);
  double pooled = static_cast<double>(x1 + x2) / static_cast<double>(n1 + n2);
  double variance =
      pooled * (1 - pooled) * (1.0 / static_cast<double>(n1) + 1.0 / static_cast<double>(n2));
  if (variance <= 0) return std::nullopt;
  double z = (p1 - p2) / std::sqrt(variance);
  return std::erfc(std::fabs(z) / std::sqrt(2.0));
}

namespace {

std::int64_t conversions(const variant_stats& v, const std::string& metric) {
  if (metric == "delivered") return v.delivered;
  if (metric.starts_with("reply:")) {
    std::string keyword = metric.substr(6);
    for (char& c : keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto it = v.replies.find(keyword);
    return it == v.replies.end() ? 0 : it->second;
  }
  if (metric.starts_with("event:")) {
    auto it = v.events.find(metric.substr(6));
    return it == v.events.end() ? 0 : it->second;
  }
  return 0;
}

std::int64_t exposed(const variant_stats& v) {
  return v.variant == "holdout" ? v.recipients : v.sent;
}

}  // namespace

ab_comparison compare_variants(const std::vector<variant_stats>& stats, const std::string& metric) {
  ab_comparison out;
  out.metric = metric;
  std::vector<const variant_stats*> ranked;
  for (const auto& v : stats) {
    out.conversions.emplace_back(v.variant, conversions(v, metric));
    if (v.variant != "holdout" && exposed(v) > 0) ranked.push_back(&v);
  }
  auto rate = [&](const variant_stats* v) {
    return static_cast<double>(conversions(*v, metric)) / static_cast<double>(exposed(*v));
  };
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](auto* a, auto* b) { return rate(a) > rate(b); });
  if (ranked.size() < 2) return out;
  out.leader = ranked[0]->variant;
  out.runner_up = ranked[1]->variant;
  out.p_value = two_proportion_p_value(conversions(*ranked[0], metric), exposed(*ranked[0]),
                                       conversions(*ranked[1], metric), exposed(*ranked[1]));
  out.significant = out.p_value && *out.p_value < 0.05 && rate(ranked[0]) > rate(ranked[1]);
  return out;
}

ab_decision decide_ab_test(const ab_decision& test, const std::vector<variant_stats>& stats,
                           time_point now) {
  ab_decision d = test;
  d.decided_at = now;
  auto cmp = compare_variants(stats, test.metric);
  d.runner_up = cmp.runner_up;
  d.p_value = cmp.p_value;
  std::string rates;
  for (const auto& v : stats) {
    if (v.variant == "holdout") continue;
    auto n = exposed(v);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %lld/%lld", rates.empty() ? "" : ", ", v.variant.c_str(),
                  static_cast<long long>(conversions(v, test.metric)), static_cast<long long>(n));
    rates += buf;
  }
  char p[32] = "n/a";
  if (cmp.p_value) std::snprintf(p, sizeof p, "%.3g", *cmp.p_value);
  if (cmp.leader.empty()) {
    d.reason = "no winner: fewer than two variants were sent (" + rates + ")";
  } else if (!cmp.significant) {
    d.reason = "no winner: " + cmp.leader + " leads " + cmp.runner_up + " on " + test.metric +
               " (" + rates + "), p = " + p + " is not below 0.05; the split goes on";
  } else {
    d.winner = cmp.leader;
    d.reason = cmp.leader + " beats " + cmp.runner_up + " on " + test.metric + " (" + rates +
               "), p = " + p + "; the remaining audience gets " + cmp.leader;
  }
  return d;
}

std::vector<ab_decision> decide_ab_tests(store& db, time_point now) {
  std::vector<ab_decision> out;
  for (const auto& test : db.ab_tests_due(now)) {
    auto d = decide_ab_test(test, db.ab_stats(test.campaign), now);
    d.switched = db.record_ab_decision(d);
    out.push_back(std::move(d));
  }
  return out;
}

std::string describe_ab_decision(const ab_decision& d) {
  if (d.decided_at)
    return "ab_test decided " + format_iso(*d.decided_at) + ": " + d.reason + " (" +
           std::to_string(d.switched) + " messages switched)";
  if (d.first_send)
    return "ab_test on " + d.metric + ": decides at " + format_iso(*d.first_send + d.decide_after) +
           " (first send + decide_after)";
  return "ab_test on " + d.metric + ": decides decide_after the first send";
}

boost::json::value ab_decision_json(const std::optional<ab_decision>& d) {
  if (!d) return nullptr;
  auto opt_time = [](const std::optional<time_point>& t) -> boost::json::value {
    if (!t) return nullptr;
    return boost::json::value(format_iso(*t));
  };
  boost::json::object out{
      {"metric", d->metric},
      {"decide_after_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(d->decide_after).count()},
      {"first_send", opt_time(d->first_send)},
      {"decided_at", opt_time(d->decided_at)},
      {"winner", d->winner},
      {"runner_up", d->runner_up},
      {"reason", d->reason},
      {"switched", d->switched}};
  out["p_value"] = d->p_value ? boost::json::value(*d->p_value) : nullptr;
  return out;
}

}  // namespace pigeon::engine
