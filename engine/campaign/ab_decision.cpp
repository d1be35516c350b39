#include "engine/campaign/ab_decision.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "engine/policy/caps.hpp"

namespace pigeon::engine::campaign {

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

namespace {

std::string rates_text(const ab_decision& test, const std::vector<variant_stats>& stats) {
  std::string rates;
  for (const auto& v : stats) {
    if (v.variant == "holdout") continue;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %lld/%lld", rates.empty() ? "" : ", ", v.variant.c_str(),
                  static_cast<long long>(conversions(v, test.metric)),
                  static_cast<long long>(exposed(v)));
    rates += buf;
  }
  return rates;
}

}  // namespace

ab_decision decide_ab_test(const ab_decision& test, const std::vector<variant_stats>& stats,
                           time_point now) {
  ab_decision d = test;
  d.decided_at.reset();
  if (!test.first_send) {
    d.reason = "waiting for the first send of a step with variants";
    d.next_check = now + ab_recheck_interval;
    return d;
  }
  if (auto at = *test.first_send + test.decide_after; at > now) {
    d.reason = "waiting until " + format_iso(at) + " (first send of the A/B step + decide_after)";
    d.next_check = at;
    return d;
  }
  auto rates = rates_text(test, stats);
  // Evidence first: every variant sent to min_per_variant recipients. Until then nothing is
  // final: the split goes on and the test is looked at again later.
  std::size_t variants = 0;
  std::string short_of;
  for (const auto& v : stats) {
    if (v.variant == "holdout") continue;
    ++variants;
    if (v.sent < test.min_per_variant)
      short_of += (short_of.empty() ? "" : ", ") + v.variant + " " + std::to_string(v.sent);
  }
  if (variants < 2 || !short_of.empty()) {
    d.reason = variants < 2 ? "not yet: fewer than two variants were sent (" + rates + ")"
                            : "not yet: each variant needs min_per_variant " +
                                  std::to_string(test.min_per_variant) + " sends (" + short_of +
                                  " sent); the split goes on";
    d.next_check = now + ab_recheck_interval;
    return d;
  }
  d.decided_at = now;
  d.next_check.reset();
  auto cmp = compare_variants(stats, test.metric);
  d.runner_up = cmp.runner_up;
  d.p_value = cmp.p_value;
  char p[32] = "n/a";
  if (cmp.p_value) std::snprintf(p, sizeof p, "%.3g", *cmp.p_value);
  if (!cmp.significant) {
    d.reason = "no winner: " + cmp.leader + " leads " + cmp.runner_up + " on " + test.metric +
               " (" + rates + "), p = " + p + " is not below 0.05; the split goes on";
  } else {
    d.winner = cmp.leader;
    d.reason = cmp.leader + " beats " + cmp.runner_up + " on " + test.metric + " (" + rates +
               "), p = " + p + "; the remaining audience gets " + cmp.leader;
  }
  return d;
}

std::vector<ab_decision> decide_ab_tests(ab_store& db, time_point now) {
  std::vector<ab_decision> out;
  for (const auto& test : db.ab_tests_due(now)) {
    auto d = decide_ab_test(test, db.ab_stats(test.campaign), now);
    if (d.decided_at) {
      d.switched = db.record_ab_decision(d);
      out.push_back(std::move(d));
    } else if (auto released = db.recheck_ab_test(d, now); released > 0) {
      spdlog::info(
          "campaign {}: A/B test undecided ({}); its sample is spent: {} held messages "
          "go out with the split",
          d.campaign, d.reason, released);
    }
  }
  return out;
}

std::optional<config::config_issue> ab_evidence_warning(const config::campaign_config& campaign,
                                                        std::size_t audience) {
  if (!campaign.ab_test) return std::nullopt;
  const auto& test = *campaign.ab_test;
  double exposed_share = (100.0 - campaign.holdout) / 100.0 * test.sample_percent / 100.0;
  std::optional<double> weakest;
  std::string which;
  for (const auto& step : campaign.steps) {
    if (step.variants.size() < 2) continue;
    long total = 0;
    for (const auto& v : step.variants) total += v.weight;
    if (total <= 0) continue;
    for (const auto& v : step.variants) {
      double expected =
          static_cast<double>(audience) * exposed_share * v.weight / static_cast<double>(total);
      if (weakest && expected >= *weakest) continue;
      weakest = expected;
      which = "variant " + v.name + " of step " + step.id + " (weight " + std::to_string(v.weight) +
              " of " + std::to_string(total) + ")";
    }
  }
  if (!weakest || *weakest >= static_cast<double>(test.min_per_variant)) return std::nullopt;
  auto where = test.min_where;
  if (test.sample_percent < 100 && test.min_where.line == test.where.line &&
      test.min_where.column == test.where.column)
    where = test.sample_where;
  char expected[32];
  std::snprintf(expected, sizeof expected, "%.0f", *weakest);
  std::string share = std::to_string(test.sample_percent) + "% sample";
  if (campaign.holdout > 0) share += ", " + std::to_string(campaign.holdout) + "% holdout";
  return config::config_issue{
      where,
      "ab_test.min_per_variant: the audience cannot reach " + std::to_string(test.min_per_variant) +
          " sends per variant: " + std::to_string(audience) + " recipients (" + share +
          ") give about " + expected + " to " + which +
          ", so the test will keep splitting without a decision. Lower "
          "min_per_variant, raise sample or widen the audience",
      config::severity::warning};
}

std::string describe_ab_decision(const ab_decision& d) {
  if (d.decided_at)
    return "ab_test decided " + format_iso(*d.decided_at) + ": " + d.reason + " (" +
           std::to_string(d.switched) + " messages switched)";
  std::string out = "ab_test on " + d.metric + ": ";
  std::string evidence =
      "once each variant was sent to " + std::to_string(d.min_per_variant) + " (min_per_variant)";
  if (d.first_send)
    out += "decides at " + format_iso(*d.first_send + d.decide_after) +
           " at the earliest (first send of the A/B step + decide_after), " + evidence;
  else
    out += "decides " + policy::format_period(d.decide_after) +
           " after the first send of the A/B step at the earliest, " + evidence;
  if (!d.reason.empty()) out += "; " + d.reason;
  if (d.next_check) out += "; next check " + format_iso(*d.next_check);
  if (d.held > 0)
    out += "; " + std::to_string(d.held) + " messages held for the decision (sample " +
           std::to_string(d.sample_percent) + "%)";
  return out;
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
      {"min_per_variant", d->min_per_variant},
      {"sample_percent", d->sample_percent},
      {"first_send", opt_time(d->first_send)},
      {"decided_at", opt_time(d->decided_at)},
      {"next_check", opt_time(d->next_check)},
      {"held", d->held},
      {"winner", d->winner},
      {"runner_up", d->runner_up},
      {"reason", d->reason},
      {"switched", d->switched}};
  out["p_value"] = d->p_value ? boost::json::value(*d->p_value) : nullptr;
  return out;
}

}  // namespace pigeon::engine::campaign
