// pigeon campaign validate, and the check every campaign verb makes before anything else.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <tuple>

#include "config/campaign.hpp"
#include "engine/campaign/ab_decision.hpp"
#include "engine/campaign/apply.hpp"
#include "engine/campaign/checks.hpp"
#include "engine/campaign/length_budget.hpp"
#include "engine/cli/commands.hpp"
#include "engine/model/clock.hpp"
#include "engine/net/media_probe.hpp"

namespace pigeon::engine::cli {

namespace {

// The file's own issues and those that need the engine config, in one list: an error in one
// part never hides those of another (a part that could not be read only skips the checks that
// need it).
std::vector<config::config_issue> load_with_issues(const context& ctx, const std::string& file,
                                                   config::engine_config& cfg,
                                                   config::campaign_config& campaign) {
  cfg = ctx.engine_config(true);
  auto load = config::collect_campaign(file);
  campaign = std::move(load.campaign);
  auto more = campaign::validate_campaign(campaign, cfg);
  load.issues.insert(load.issues.end(), more.begin(), more.end());
  return std::move(load.issues);
}

void append(std::vector<config::config_issue>& to, std::vector<config::config_issue> from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

config::campaign_config load_checked_campaign(const context& ctx, const std::string& file,
                                              config::engine_config& cfg) {
  config::campaign_config campaign;
  auto issues = load_with_issues(ctx, file, cfg, campaign);
  if (!issues.empty()) throw config::config_error(std::move(issues));
  return campaign;
}

int validate_campaign_file(const context& ctx, const std::string& file, const std::string& clock) {
  config::engine_config cfg;
  config::campaign_config campaign;
  auto issues = load_with_issues(ctx, file, cfg, campaign);
  append(issues, campaign::past_step_issues(campaign, make_clock(clock)->now()));
  append(issues, campaign::window_warnings(campaign));

  // One pass over the stored contacts: the length budget, and the attribute names they have.
  // The budget needs a sender and an audience that compiles; without them only the names.
  const bool exists = ctx.database_exists(cfg);
  const bool budget = cfg.senders.contains(campaign.sender) &&
                      campaign::audience_issues(campaign.audience, cfg).empty();
  campaign::attribute_catalog catalog;
  campaign::budget_report report;
  if (exists) {
    auto db = ctx.open_store(cfg);
    if (budget) {
      report = campaign::check_budget(
          campaign, cfg,
          [&](const auto& fn) {
            db->for_each_contact([&](const engine::contact& c) {
              catalog.add(c);
              fn(c);
            });
          },
          net::make_url_media_probe());
    } else {
      db->for_each_contact([&](const engine::contact& c) { catalog.add(c); });
    }
  } else if (budget) {
    report = campaign::check_budget(campaign, cfg, {}, net::make_url_media_probe());
  }
  append(issues, report.issues());
  append(issues, campaign::attribute_name_issues(campaign, cfg, catalog));
  if (report.audience_checked) {
    append(issues, campaign::empty_audience_warnings(campaign, catalog.contacts, report.audience));
    if (auto w = campaign::ab_evidence_warning(campaign, report.audience)) issues.push_back(*w);
  }

  // In file order (the engine config's issues, if any, after the campaign's).
  std::stable_sort(issues.begin(), issues.end(), [&](const auto& a, const auto& b) {
    return std::tuple{a.where.file != file, a.where.line, a.where.column} <
           std::tuple{b.where.file != file, b.where.line, b.where.column};
  });
  std::size_t errors = 0;
  for (const auto& issue : issues) {
    std::cerr << issue.to_string() << "\n";
    errors += issue.is_error() ? 1 : 0;
  }
  const std::size_t warnings = issues.size() - errors;
  if (errors > 0) {
    std::cerr << errors << (errors == 1 ? " error" : " errors");
    if (warnings > 0) std::cerr << ", " << warnings << (warnings == 1 ? " warning" : " warnings");
    std::cerr << "\n";
    return 1;
  }
  std::size_t variants = 0;
  for (const auto& s : campaign.steps) variants += s.variants.size();
  std::cout << file << ": campaign " << campaign.name << " is valid (" << campaign.steps.size()
            << " steps, " << variants << " variants"
            << (warnings > 0
                    ? ", " + std::to_string(warnings) + (warnings == 1 ? " warning" : " warnings")
                    : std::string())
            << ")\n";
  for (const auto& s : campaign.steps) {
    if (const auto* k = config::follow_up_of(campaign, s.id))
      std::cout << "step " << s.id << ": follow-up only, queued for those who reply \""
                << k->keyword << "\", `at: " << s.at << "` counted from the reply\n";
  }
  if (report.audience_checked)
    std::cout << "length budget: fits for all " << report.audience
              << " recipients in the audience and the worst case (no attributes)\n";
  else
    std::cout << "length budget: database " << ctx.database(cfg)
              << " does not exist yet; checked the worst case (no attributes) only\n";
  return 0;
}

}  // namespace pigeon::engine::cli
