// The report as one self-contained HTML page: inline CSS, charts as SVG drawn here, no script
// and no external resource, so it opens offline and prints. The page carries the JSON of
// `report --json` (a non-executed application/json block) and shows numbers formatted from the
// same campaign_report. Every text that comes from a user (campaign, step and variant names,
// reasons, carrier texts) is escaped.
#include <boost/json/serialize.hpp>
#include <cstdio>

#include "engine/report/report.hpp"
#include "engine/report/svg.hpp"

namespace pigeon::engine::report {

namespace {

using svg::esc;

std::string pct(const proportion& p) {
  if (p.base == 0) return "&ndash;";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1f%%<small> %.1f&ndash;%.1f</small>", 100 * p.rate, 100 * p.low,
                100 * p.high);
  return buf;
}

std::string num(std::int64_t n) { return std::to_string(n); }

constexpr const char* style = R"css(
:root{color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;margin:0;color:#1d2733;background:#f4f6f9}
main{max-width:1240px;margin:0 auto;padding:16px}
h1{font-size:1.45rem;margin:.2em 0}h2{font-size:1.1rem;margin:1.4em 0 .5em}
.meta{color:#5b6775;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px;margin:12px 0}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card b{display:block;font-size:1.35rem}.card span{color:#5b6775;font-size:.85rem}
.panel{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 6px;text-align:right;white-space:nowrap;border-bottom:1px solid #e6e9ee}
th:first-child,td:first-child,.text{text-align:left}
.ab svg{max-width:640px}
small{color:#7a8594}
svg{width:100%;height:auto;display:block}
.legend span{display:inline-block;margin-right:12px;font-size:.85rem}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
a{color:#1f5fbf}
@media (max-width:600px){main{padding:8px}th,td{padding:3px 5px;font-size:.85rem}}
)css";

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" +
         esc(title) + "</title><style>" + style + "</style></head><body><main>" + body +
         "</main></body></html>\n";
}

std::string row_label(const funnel_row& r) {
  return r.step.empty() ? "all steps" : r.step + " / " + r.variant;
}

std::string funnel_table(const campaign_report& r) {
  std::string t =
      "<div class=\"wrap\"><table id=\"funnel\"><thead><tr><th>step / variant</th><th>queued</th>"
      "<th>sent</th><th>delivered</th><th>undelivered</th><th>failed</th><th>expired</th>"
      "<th>suppressed</th><th>replied</th><th>converted</th><th>opted out</th>"
      "<th>segments</th></tr></thead><tbody>";
  auto row = [&](const funnel_row& f) {
    t += "<tr><td>" + esc(row_label(f)) + "</td><td>" + num(f.counts.queued) + "</td>";
    for (const auto* p : {&f.sent, &f.delivered, &f.undelivered, &f.failed, &f.expired,
                          &f.suppressed, &f.replied, &f.converted, &f.opted_out})
      t += "<td>" + num(p->count) + "<br>" + pct(*p) + "</td>";
    t += "<td>" + num(f.counts.segments) + "</td></tr>";
  };
  for (const auto& f : r.funnel) row(f);
  if (r.funnel.size() > 1) row(r.total);
  t += "</tbody></table></div>";
  return t;
}

std::string breakdown_table(const campaign_report& r) {
  std::string t =
      "<div class=\"wrap\"><table id=\"breakdown\"><thead><tr><th>step / variant</th><th "
      "class=\"text\">what"
      "</th><th>recipients</th><th>rate</th></tr></thead><tbody>";
  bool any = false;
  for (const auto& f : r.funnel) {
    for (const auto& [k, p] : f.replied_by_keyword) {
      any = true;
      t += "<tr><td>" + esc(row_label(f)) + "</td><td class=\"text\">replied " + esc(k) +
           "</td><td>" + num(p.count) + "</td><td>" + pct(p) + "</td></tr>";
    }
    for (const auto& [reason, n] : f.counts.suppressed_by_reason) {
      any = true;
      t += "<tr><td>" + esc(row_label(f)) + "</td><td class=\"text\">suppressed: " + esc(reason) +
           "</td><td>" + num(n) + "</td><td>" + pct(wilson(n, f.counts.queued)) + "</td></tr>";
    }
  }
  t += "</tbody></table></div>";
  return any ? t : "<p class=\"meta\">No replies and nothing suppressed yet.</p>";
}

std::string ab_panel(const campaign_report& r) {
  if (!r.ab) return "";
  const auto& c = r.ab->comparison;
  std::string h = "<h2>A/B test on " + esc(c.metric) + "</h2><div class=\"panel ab\">";
  std::vector<svg::interval> points;
  for (std::size_t i = 0; i < r.ab->variants.size(); ++i)
    points.push_back(
        {r.ab->variants[i].variant, r.ab->rates[i].rate, r.ab->rates[i].low, r.ab->rates[i].high});
  h += svg::interval_chart("ab", points);
  char p[64] = "p-value n/a";
  if (c.p_value) std::snprintf(p, sizeof p, "p-value %.3g", *c.p_value);
  h += "<p>" +
       (c.leader.empty() ? std::string("Fewer than two variants sent yet.")
                         : esc(c.leader) + " leads " + esc(c.runner_up) + ", " + p +
                               (c.significant ? " (significant at 95%)." : " (not significant).")) +
       "</p><p class=\"meta\">" + esc(campaign::describe_ab_decision(*r.ab->decision)) +
       "</p></div>";
  return h;
}

std::string details(const campaign_report& r) {
  std::string h = "<h2>Delivery</h2><div class=\"panel\"><div class=\"wrap\"><table>";
  h += "<tr><th>latency (submit &rarr; receipt)</th><th>p50</th><th>p90</th><th>p95</th>"
       "<th>p99</th><th>max</th></tr><tr><td>" +
       num(r.latency.count) + " delivered</td>";
  for (auto ms :
       {r.latency.p50_ms, r.latency.p90_ms, r.latency.p95_ms, r.latency.p99_ms, r.latency.max_ms})
    h += "<td>" + format_duration_ms(ms) + "</td>";
  h += "</tr></table></div>";
  h += "<h3>Carrier errors</h3>";
  if (r.carrier_errors.empty()) {
    h += "<p class=\"meta\">None.</p>";
  } else {
    h += "<div class=\"wrap\"><table id=\"errors\"><tr><th>provider</th><th>code</th>"
         "<th>messages</th><th>example</th></tr>";
    for (const auto& e : r.carrier_errors)
      h += "<tr><td>" + esc(e.provider) + "</td><td>" + esc(e.code) + "</td><td>" + num(e.count) +
           "</td><td style=\"text-align:left;white-space:normal\">" + esc(e.text) + "</td></tr>";
    h += "</table></div>";
  }
  h += "<h3>Segments and cost</h3><div class=\"wrap\"><table id=\"cost\"><tr><th>provider</th>"
       "<th>segments</th><th>price per segment</th><th>cost</th></tr>";
  for (const auto& c : r.cost) {
    char price[64] = "not configured", cost[64] = "&ndash;";
    if (c.price_per_segment) {
      std::snprintf(price, sizeof price, "%g %s", *c.price_per_segment, c.currency.c_str());
      std::snprintf(cost, sizeof cost, "%.2f %s", *c.cost, c.currency.c_str());
    }
    h += "<tr><td>" + esc(c.provider) + "</td><td>" + num(c.segments) + "</td><td>" + price +
         "</td><td>" + cost + "</td></tr>";
  }
  h += "</table></div></div>";
  return h;
}

// The report's JSON for scripts reading the page: '<' escaped so no text can end the block.
std::string embedded_json(const campaign_report& r) {
  std::string out;
  for (char c : boost::json::serialize(to_json(r))) out += c == '<' ? "\\u003c" : std::string(1, c);
  return "<script type=\"application/json\" id=\"report-json\">" + out + "</script>";
}

}  // namespace

std::string render_html(const campaign_report& r) {
  const auto& t = r.total;
  std::string b = "<h1>" + esc(r.campaign) + "</h1><p class=\"meta\">version " + num(r.version) +
                  " &middot; " + esc(r.state) + " &middot; " + esc(r.category) +
                  " &middot; as of " + esc(format_iso(r.generated_at)) +
                  " &middot; replies, opt-outs and conversions within " +
                  num(std::chrono::duration_cast<std::chrono::hours>(r.window).count()) +
                  " h of a send; 95% intervals (Wilson)</p>";
  b += "<div class=\"cards\">";
  auto card = [&](const char* label, std::int64_t n, const std::string& rate) {
    b += "<div class=\"card\"><b>" + num(n) + "</b><span>" + label + (rate.empty() ? "" : " ") +
         rate + "</span></div>";
  };
  card("queued", t.counts.queued, "");
  card("sent", t.sent.count, pct(t.sent));
  card("delivered", t.delivered.count, pct(t.delivered));
  card("replied", t.replied.count, pct(t.replied));
  card("converted", t.converted.count, pct(t.converted));
  card("opted out", t.opted_out.count, pct(t.opted_out));
  b += "</div>";

  std::vector<svg::bar_series> bars;
  for (const auto& f : r.funnel)
    bars.push_back({row_label(f),
                    {f.counts.queued, f.sent.count, f.delivered.count, f.replied.count,
                     f.converted.count, f.opted_out.count}});
  std::vector<std::string> times;
  std::vector<svg::line_series> lines{{"sent", {}}, {"delivered", {}}, {"replied", {}}};
  for (const auto& p : r.timeline) {
    times.push_back(format_iso(p.at).substr(0, r.timeline_bucket == "day" ? 10 : 16));
    lines[0].values.push_back(p.counts.sent);
    lines[1].values.push_back(p.counts.delivered);
    lines[2].values.push_back(p.counts.replied);
  }
  b += "<div class=\"charts\"><div class=\"panel\"><h2>Funnel</h2>" +
       svg::bar_chart("funnel",
                      {"queued", "sent", "delivered", "replied", "converted", "opted out"}, bars) +
       "</div><div class=\"panel\"><h2>Timeline (per " + esc(r.timeline_bucket) + ", UTC)</h2>" +
       svg::line_chart("timeline", times, lines) + "</div></div>";
  b += "<h2>Steps and variants</h2><div class=\"panel\">" + funnel_table(r) + "</div>";
  b += "<h2>Replies and suppressions</h2><div class=\"panel\">" + breakdown_table(r) + "</div>";
  if (r.journey) {
    // A lifecycle journey: who entered and who left, per day.
    const auto& j = *r.journey;
    b += "<h2>Journey</h2><div class=\"panel\"><p>" + num(j.entries_total) + " entries (" +
         num(j.entries_today) + " today, " + num(j.entries_7d) + " in 7 days); " + num(j.indexed) +
         " contacts indexed for the trigger</p><div class=\"wrap\">"
         "<table id=\"journey\"><thead><tr><th>day (UTC)</th><th>entries</th><th>exits</th>"
         "</tr></thead><tbody>";
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> days;
    for (const auto& [day, n] : j.entries_by_day) days[day].first = n;
    for (const auto& [day, n] : j.exits_by_day) days[day].second = n;
    for (const auto& [day, n] : days)
      b += "<tr><td>" + esc(day) + "</td><td>" + num(n.first) + "</td><td>" + num(n.second) +
           "</td></tr>";
    b += "</tbody></table></div><p>exits:";
    for (const auto& [reason, n] : j.exits) b += " " + esc(reason) + " " + num(n) + ";";
    b += "</p></div>";
  }
  b += ab_panel(r) + details(r) + embedded_json(r);
  return page("pigeon report: " + r.campaign, b);
}

std::string render_index_html(const std::vector<campaign_report>& reports) {
  std::string b = "<h1>pigeon campaigns</h1>";
  if (reports.empty()) return page("pigeon campaigns", b + "<p>No campaigns yet.</p>");
  b += "<div class=\"panel\"><div class=\"wrap\"><table id=\"campaigns\"><thead><tr>"
       "<th>campaign</th><th>state</th><th>queued</th><th>sent</th><th>delivered</th>"
       "<th>replied</th><th>converted</th><th>opted out</th></tr></thead><tbody>";
  for (const auto& r : reports) {
    const auto& t = r.total;
    b += "<tr><td><a href=\"/reports/" + esc(svg::url_encode(r.campaign)) + "\">" +
         esc(r.campaign) + "</a></td><td>" + esc(r.state) + "</td><td>" + num(t.counts.queued) +
         "</td><td>" + num(t.sent.count) + "</td>";
    for (const auto* p : {&t.delivered, &t.replied, &t.converted, &t.opted_out})
      b += "<td>" + pct(*p) + "</td>";
    b += "</tr>";
  }
  b += "</tbody></table></div></div>";
  return page("pigeon campaigns", b);
}

std::pair<int, std::string> report_page(store& db, const std::optional<std::string>& campaign,
                                        const price_list& prices, time_point now) {
  if (campaign) {
    if (auto r = build_report(db, *campaign, prices, now)) return {200, render_html(*r)};
    std::string b = "<h1>No campaign named " + esc(*campaign) + "</h1><p>Campaigns:</p><ul>";
    for (const auto& c : db.list_campaigns())
      b += "<li><a href=\"/reports/" + esc(svg::url_encode(c.name)) + "\">" + esc(c.name) +
           "</a></li>";
    return {404, page("no campaign named " + *campaign, b + "</ul><p><a href=\"/\">all campaigns"
                                                            "</a></p>")};
  }
  std::vector<campaign_report> all;
  for (const auto& c : db.list_campaigns())
    if (auto r = build_report(db, c.name, prices, now)) all.push_back(std::move(*r));
  return {200, render_index_html(all)};
}

}  // namespace pigeon::engine::report
