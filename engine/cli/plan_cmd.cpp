// pigeon campaign plan FILE [--from T] [--days N] [--json]
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "config/campaign.hpp"
#include "engine/campaign/forecast.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/cli/commands.hpp"
#include "engine/model/clock.hpp"

namespace pigeon::engine::cli {

namespace {

boost::json::object to_json(const campaign::plan_report& r, bool database_found) {
  boost::json::array days;
  for (const auto& b : r.buckets) {
    boost::json::object reasons;
    for (const auto& [reason, n] : b.reasons) reasons[reason] = n;
    days.push_back({{"date", b.date},
                    {"provider", b.provider},
                    {"sends", b.sends},
                    {"deferrals", b.deferrals},
                    {"suppressions", b.suppressions},
                    {"reasons", std::move(reasons)}});
  }
  return {{"campaign", r.campaign},
          {"from", engine::format_iso(r.from)},
          {"days", r.days},
          {"timezone", r.timezone},
          {"database_found", database_found},
          {"recipients", r.recipients},
          {"opted_out", r.opted_out},
          {"forecast", std::move(days)},
          {"totals",
           {{"sends", r.sends}, {"deferrals", r.deferrals}, {"suppressions", r.suppressions}}},
          {"after_horizon", r.after_horizon},
          {"ab_sample_percent", r.ab_sample_percent},
          {"ab_held", r.ab_held}};
}

// A journey's plan: date triggers per day (anchor days in the recipients' zones), event and
// `enters` triggers as "depends on events" with the last 7 days' entry rate.
int plan_journey(const context& ctx, const config::engine_config& cfg,
                 const config::campaign_config& campaign, bool found, engine::time_point from,
                 int days) {
  campaign::journey_forecast f;
  if (found) {
    auto db = ctx.open_store(cfg);
    f = campaign::forecast_journey(campaign, cfg, *db, from, days);
  } else {
    f.depends_on_events = campaign.trigger->type != config::trigger_config::kind::date;
  }
  std::int64_t entries = 0;
  for (const auto& [day, n] : f.entries_by_day) entries += n;
  if (ctx.json) {
    boost::json::array per_day;
    for (const auto& [day, n] : f.entries_by_day)
      per_day.push_back({{"date", day}, {"entries", n}, {"messages", n * f.steps}});
    std::cout << boost::json::serialize(
                     boost::json::object{{"campaign", campaign.name},
                                         {"from", engine::format_iso(from)},
                                         {"days", days},
                                         {"database_found", found},
                                         {"journey",
                                          {{"depends_on_events", f.depends_on_events},
                                           {"entries_per_day_7d", f.entries_per_day_7d},
                                           {"forecast", std::move(per_day)},
                                           {"entries", entries},
                                           {"messages", entries * f.steps},
                                           {"unreadable_dates", f.unreadable}}}})
              << "\n";
    return 0;
  }
  std::cout << "plan for journey " << campaign.name << " from " << engine::format_iso(from) << ", "
            << days << " days\n";
  if (f.depends_on_events) {
    std::printf("depends on events: entries follow what contacts do; last 7 days %.1f a day\n",
                f.entries_per_day_7d);
    return 0;
  }
  std::cout << "date (recipient's zone)  entries  messages\n";
  for (const auto& [day, n] : f.entries_by_day)
    std::printf("%-23s %8lld %9lld\n", day.c_str(), static_cast<long long>(n),
                static_cast<long long>(n * f.steps));
  std::cout << "total: " << entries << " entries, " << entries * f.steps << " messages";
  if (f.unreadable > 0) std::cout << "; " << f.unreadable << " contacts with an unreadable date";
  std::cout << "\n";
  return 0;
}

int plan(const context& ctx, const std::string& file, const std::string& from_text, int days) {
  auto cfg = ctx.engine_config(true);
  auto campaign = config::load_campaign(file);
  auto from = engine::system_clock().now();
  if (!from_text.empty()) {
    auto parsed = engine::parse_iso(from_text);
    if (!parsed) {
      std::cerr << "pigeon: --from: expected an ISO 8601 time like 2026-11-11T00:00:00Z, got '"
                << from_text << "'\n";
      return 2;
    }
    from = *parsed;
  }
  if (days < 1 || days > 366) {
    std::cerr << "pigeon: --days: expected 1 to 366, got " << days << "\n";
    return 2;
  }
  // Never creates the database: a missing one means no contacts yet.
  bool found = ctx.database_exists(cfg);
  if (campaign.trigger) return plan_journey(ctx, cfg, campaign, found, from, days);
  campaign::plan_report report;
  if (found) {
    auto db = ctx.open_store(cfg);
    report = campaign::plan_campaign(campaign, cfg, *db, from, days);
  } else {
    report.campaign = campaign.name;
    report.from = from;
    report.days = days;
    report.timezone = cfg.default_timezone;
  }
  if (ctx.json) {
    std::cout << boost::json::serialize(to_json(report, found)) << "\n";
    return 0;
  }
  if (!found)
    std::cerr << "plan: database " << ctx.database_label(cfg)
              << " does not exist yet (no contacts)\n";
  std::cout << "plan for " << report.campaign << " from " << engine::format_iso(report.from) << ", "
            << report.days << " days (dates in " << report.timezone << "): " << report.recipients
            << " recipients";
  if (report.opted_out > 0) std::cout << " (" << report.opted_out << " opted out: nothing planned)";
  std::cout << "\n";
  if (report.ab_held > 0)
    std::cout << "ab_test sample " << report.ab_sample_percent << "%: " << report.ab_held
              << " messages outside the sample are held for the decision (planned at the "
                 "earliest, their step's time + decide_after)\n";
  std::cout << "date        provider      sends  deferrals  suppressions\n";
  for (const auto& b : report.buckets) {
    std::printf("%-11s %-12s %6lld %10lld %13lld\n", b.date.c_str(),
                b.provider.empty() ? "-" : b.provider.c_str(), static_cast<long long>(b.sends),
                static_cast<long long>(b.deferrals), static_cast<long long>(b.suppressions));
    std::fflush(stdout);
    for (const auto& [reason, n] : b.reasons) std::cout << "    " << n << "  " << reason << "\n";
  }
  std::cout << "total: " << report.sends << " sends, " << report.deferrals << " deferrals, "
            << report.suppressions << " suppressions";
  if (report.after_horizon > 0) std::cout << "; " << report.after_horizon << " after the horizon";
  std::cout << "\n";
  return 0;
}

}  // namespace

void register_campaign_plan(CLI::App& campaign, context& ctx, int& exit_code) {
  static std::string file, from;
  static int days = 7;
  auto* p = campaign.add_subcommand(
      "plan", "forecast per day and provider: sends, deferrals, suppressions and why (no writes)");
  p->add_option("file", file)->required();
  p->add_option("--from", from, "start of the forecast (ISO 8601; default now)");
  p->add_option("--days", days, "days to forecast (default 7)");
  p->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  p->callback([&] { exit_code = plan(ctx, file, from, days); });
}

}  // namespace pigeon::engine::cli
