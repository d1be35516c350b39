// The report as text, JSON and CSV (engine/report/report.hpp); the HTML page is in report_html.cpp.
#include <boost/json/array.hpp>
#include <cstdio>

#include "engine/campaign/journeys.hpp"
#include "engine/policy/caps.hpp"
#include "engine/report/report.hpp"

namespace pigeon::engine::report {

namespace {

namespace json = boost::json;

json::value prop_json(const proportion& p) {
  return json::object{
      {"count", p.count}, {"base", p.base}, {"rate", p.rate}, {"ci95", json::array{p.low, p.high}}};
}

json::object counts_json(const std::map<std::string, std::int64_t>& m) {
  json::object o;
  for (const auto& [k, n] : m) o[k] = n;
  return o;
}

json::object row_json(const funnel_row& r) {
  json::object by_keyword;
  for (const auto& [k, p] : r.replied_by_keyword) by_keyword[k] = prop_json(p);
  return {{"step", r.step},
          {"variant", r.variant},
          {"queued", r.counts.queued},
          {"pending", r.counts.pending},
          {"sent", prop_json(r.sent)},
          {"delivered", prop_json(r.delivered)},
          {"undelivered", prop_json(r.undelivered)},
          {"failed", prop_json(r.failed)},
          {"expired", prop_json(r.expired)},
          {"suppressed", prop_json(r.suppressed)},
          {"suppressed_by_reason", counts_json(r.counts.suppressed_by_reason)},
          {"replied", prop_json(r.replied)},
          {"replied_by_keyword", std::move(by_keyword)},
          {"converted", prop_json(r.converted)},
          {"opted_out", prop_json(r.opted_out)},
          {"segments", r.counts.segments}};
}

json::value ab_json(const std::optional<ab_section>& ab) {
  if (!ab) return nullptr;
  json::array variants;
  for (std::size_t i = 0; i < ab->variants.size(); ++i) {
    const auto& v = ab->variants[i];
    variants.push_back({{"variant", v.variant},
                        {"recipients", v.recipients},
                        {"sent", v.sent},
                        {"delivered", v.delivered},
                        {"conversion", prop_json(ab->rates[i])}});
  }
  const auto& c = ab->comparison;
  return json::object{{"metric", c.metric},
                      {"variants", std::move(variants)},
                      {"leader", c.leader},
                      {"runner_up", c.runner_up},
                      {"p_value", c.p_value ? json::value(*c.p_value) : nullptr},
                      {"significant", c.significant},
                      {"decision", campaign::ab_decision_json(ab->decision)}};
}

std::string pct(const proportion& p) {
  char buf[64];
  if (p.base == 0) return "-";
  std::snprintf(buf, sizeof buf, "%.1f%% [%.1f-%.1f]", 100 * p.rate, 100 * p.low, 100 * p.high);
  return buf;
}

std::string money(double amount, const std::string& currency) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s", amount, currency.c_str());
  return buf;
}

// CSV field: quoted when it holds a comma, quote or line break (RFC 4180).
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string joined_counts(const std::map<std::string, std::int64_t>& m) {
  std::string out;
  for (const auto& [k, n] : m) out += (out.empty() ? "" : "; ") + k + "=" + std::to_string(n);
  return out;
}

}  // namespace

std::string format_duration_ms(std::int64_t ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  } else if (ms < 120'000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000);
  } else if (ms < 7'200'000) {
    std::snprintf(buf, sizeof buf, "%.1f min", static_cast<double>(ms) / 60000);
  } else if (ms < 172'800'000) {
    std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(ms) / 3'600'000);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f d", static_cast<double>(ms) / 86'400'000);
  }
  return buf;
}

json::object to_json(const campaign_report& r) {
  json::array funnel;
  for (const auto& row : r.funnel) funnel.push_back(row_json(row));
  json::array timeline;
  for (const auto& p : r.timeline)
    timeline.push_back({{"at", format_iso(p.at)},
                        {"sent", p.counts.sent},
                        {"delivered", p.counts.delivered},
                        {"replied", p.counts.replied}});
  json::array errors;
  for (const auto& e : r.carrier_errors)
    errors.push_back(
        {{"provider", e.provider}, {"code", e.code}, {"text", e.text}, {"count", e.count}});
  json::array cost;
  for (const auto& c : r.cost)
    cost.push_back(
        {{"provider", c.provider},
         {"segments", c.segments},
         {"price_per_segment", c.price_per_segment ? json::value(*c.price_per_segment) : nullptr},
         {"currency", c.currency},
         {"cost", c.cost ? json::value(*c.cost) : nullptr}});
  json::object cost_total;
  for (const auto& [currency, amount] : r.cost_total) cost_total[currency] = amount;
  json::array goals;
  for (const auto& g : r.conversion_goals) goals.push_back(json::value(g));
  return {{"campaign", r.campaign},
          {"version", r.version},
          {"state", r.state},
          {"category", r.category},
          {"generated_at", format_iso(r.generated_at)},
          {"window_seconds", std::chrono::duration_cast<std::chrono::seconds>(r.window).count()},
          {"conversion_goals", std::move(goals)},
          {"funnel", std::move(funnel)},
          {"total", row_json(r.total)},
          {"ab_test", ab_json(r.ab)},
          {"timeline", {{"bucket", r.timeline_bucket}, {"points", std::move(timeline)}}},
          {"latency_ms",
           {{"count", r.latency.count},
            {"p50", r.latency.p50_ms},
            {"p90", r.latency.p90_ms},
            {"p95", r.latency.p95_ms},
            {"p99", r.latency.p99_ms},
            {"max", r.latency.max_ms}}},
          {"carrier_errors", std::move(errors)},
          {"segments", r.total.counts.segments},
          {"cost", {{"by_provider", std::move(cost)}, {"total", std::move(cost_total)}}},
          {"journey", r.journey ? boost::json::value(campaign::journey_json(*r.journey))
                                : boost::json::value(nullptr)}};
}

std::string render_text(const campaign_report& r) {
  std::string out = "Report: " + r.campaign + " (version " + std::to_string(r.version) + ", " +
                    r.state + ", " + r.category + ") as of " + format_iso(r.generated_at) + "\n";
  out += "Replies, opt-outs and conversions count within " + policy::format_period(r.window) +
         " of a send; rates with 95% intervals (Wilson).\n";
  if (!r.conversion_goals.empty()) {
    out += "Conversion:";
    for (const auto& g : r.conversion_goals) out += " " + g;
    out += "\n";
  }
  auto block = [&](const funnel_row& row, const std::string& title) {
    out += "\n" + title + "\n";
    char line[160];
    std::snprintf(line, sizeof line, "  %-12s %9lld\n", "queued",
                  static_cast<long long>(row.counts.queued));
    out += line;
    auto put = [&](const char* name, const proportion& p) {
      std::snprintf(line, sizeof line, "  %-12s %9lld  %s\n", name, static_cast<long long>(p.count),
                    pct(p).c_str());
      out += line;
    };
    put("sent", row.sent);
    put("delivered", row.delivered);
    put("undelivered", row.undelivered);
    put("failed", row.failed);
    put("expired", row.expired);
    put("suppressed", row.suppressed);
    for (const auto& [reason, n] : row.counts.suppressed_by_reason)
      out += "      " + std::to_string(n) + "  " + reason + "\n";
    put("replied", row.replied);
    for (const auto& [k, p] : row.replied_by_keyword) put(("  " + k).substr(0, 12).c_str(), p);
    put("converted", row.converted);
    put("opted out", row.opted_out);
    for (auto [name, n] :
         {std::pair{"pending", row.counts.pending}, std::pair{"segments", row.counts.segments}}) {
      std::snprintf(line, sizeof line, "  %-12s %9lld\n", name, static_cast<long long>(n));
      out += line;
    }
  };
  for (const auto& row : r.funnel) block(row, "Step " + row.step + ", variant " + row.variant);
  if (r.funnel.size() > 1) block(r.total, "All steps");
  if (r.ab) {
    const auto& c = r.ab->comparison;
    out += "\nA/B test on " + c.metric + ":";
    for (std::size_t i = 0; i < r.ab->variants.size(); ++i)
      out += " " + r.ab->variants[i].variant + " " + std::to_string(r.ab->rates[i].count) + "/" +
             std::to_string(r.ab->rates[i].base) + " (" + pct(r.ab->rates[i]) + ")";
    char p[48] = "p = n/a";
    if (c.p_value) std::snprintf(p, sizeof p, "p = %.3g", *c.p_value);
    out +=
        "\n  " + (c.leader.empty() ? std::string("fewer than two variants sent")
                                   : c.leader + " leads " + c.runner_up + ", " + p +
                                         (c.significant ? " (significant)" : " (not significant)"));
    out += "\n  " + campaign::describe_ab_decision(*r.ab->decision) + "\n";
  }
  if (r.latency.count > 0)
    out += "\nDelivery latency (submit to receipt, " + std::to_string(r.latency.count) +
           " delivered): p50 " + format_duration_ms(r.latency.p50_ms) + ", p90 " +
           format_duration_ms(r.latency.p90_ms) + ", p95 " + format_duration_ms(r.latency.p95_ms) +
           ", p99 " + format_duration_ms(r.latency.p99_ms) + ", max " +
           format_duration_ms(r.latency.max_ms) + "\n";
  if (!r.carrier_errors.empty()) {
    out += "\nCarrier errors:\n";
    for (const auto& e : r.carrier_errors)
      out +=
          "  " + std::to_string(e.count) + "  " + e.provider + " " + e.code + "  " + e.text + "\n";
  }
  out += "\nSegments sent: " + std::to_string(r.total.counts.segments) + "\n";
  for (const auto& c : r.cost)
    out += "  " + c.provider + ": " + std::to_string(c.segments) + " segments" +
           (c.cost ? ", " + money(*c.cost, c.currency) : ", no price_per_segment configured") +
           "\n";
  for (const auto& [currency, amount] : r.cost_total)
    out += "  cost: " + money(amount, currency) + "\n";
  if (!r.timeline.empty()) {
    out += "\nTimeline (per " + r.timeline_bucket + ", UTC): sent / delivered / replied\n";
    for (const auto& p : r.timeline) {
      if (p.counts.sent + p.counts.delivered + p.counts.replied == 0) continue;
      out += "  " + format_iso(p.at).substr(0, r.timeline_bucket == "day" ? 10 : 16) + "  " +
             std::to_string(p.counts.sent) + " / " + std::to_string(p.counts.delivered) + " / " +
             std::to_string(p.counts.replied) + "\n";
    }
  }
  if (r.journey) {
    out += "\n" + campaign::describe_journey(*r.journey);
    out += "Entries / exits per day (UTC):\n";
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> days;
    for (const auto& [day, n] : r.journey->entries_by_day) days[day].first = n;
    for (const auto& [day, n] : r.journey->exits_by_day) days[day].second = n;
    for (const auto& [day, n] : days)
      out += "  " + day + "  " + std::to_string(n.first) + " / " + std::to_string(n.second) + "\n";
  }
  return out;
}

std::string render_csv(const campaign_report& r) {
  std::string out =
      "day,step,variant,sent,delivered,undelivered,failed,expired,suppressed,replied,converted,"
      "opted_out,segments,suppressed_by_reason,replied_by_keyword\r\n";
  for (const auto& d : r.days) {
    const auto& c = d.counts;
    out += d.day + "," + csv_field(d.step) + "," + csv_field(d.variant);
    for (auto n : {c.sent, c.delivered, c.undelivered, c.failed, c.expired, c.suppressed, c.replied,
                   c.converted, c.opted_out, c.segments})
      out += "," + std::to_string(n);
    out += "," + csv_field(joined_counts(c.suppressed_by_reason)) + "," +
           csv_field(joined_counts(c.replied_by_keyword)) + "\r\n";
  }
  return out;
}

}  // namespace pigeon::engine::report
