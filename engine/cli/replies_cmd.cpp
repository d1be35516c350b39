// pigeon replies: inbound messages and what they triggered; reads the database directly.
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <iostream>

#include "engine/cli/commands.hpp"
#include "engine/cli/rows_json.hpp"

namespace pigeon::engine::cli {

namespace {

int replies(const context& ctx, const std::string& campaign, const std::string& since,
            std::size_t limit) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  engine::reply_filter f{campaign, std::nullopt, limit};
  if (!since.empty()) {
    f.since = engine::parse_iso(since);
    if (!f.since) {
      std::cerr << "pigeon: --since expects an ISO 8601 time (2026-11-11T10:00:00Z), got `" << since
                << "`\n";
      return 2;
    }
  }
  auto db = ctx.open_store(cfg);
  auto rows = db->replies(f);
  if (ctx.json) {
    boost::json::array out;
    for (const auto& r : rows) out.push_back(reply_json(r));
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  // Ops act on these (call back, check an opt-out): the phone is shown in full, as in --json.
  std::printf("%-24s %-16s %-20s %-10s %-20s %s\n", "AT", "PHONE", "CAMPAIGN", "KEYWORD", "ACTION",
              "TEXT");
  for (const auto& r : rows)
    std::printf("%-24s %-16s %-20s %-10s %-20s %s\n", engine::format_iso(r.at).c_str(),
                r.phone.c_str(), r.campaign.empty() ? "-" : r.campaign.c_str(),
                r.keyword.empty() ? "-" : r.keyword.c_str(),
                r.action.empty() ? "unmatched" : r.action.c_str(), r.text.c_str());
  return 0;
}

}  // namespace

void register_replies(CLI::App& app, context& ctx, int& exit_code) {
  auto* r = app.add_subcommand("replies", "keyword replies and what they triggered (UTC times)");
  static std::string campaign, since;
  static std::size_t limit = 0;
  r->add_option("--campaign", campaign, "only replies attributed to this campaign");
  r->add_option("--since", since, "only replies at or after this ISO 8601 time");
  r->add_option("--limit", limit, "at most this many rows (0 = all)");
  r->add_flag("--json", ctx.json, "JSON output");
  r->callback([&] { exit_code = replies(ctx, campaign, since, limit); });
}

}  // namespace pigeon::engine::cli
