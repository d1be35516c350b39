// pigeon campaign validate|apply|list|show|pause|resume|cancel
#include <boost/json.hpp>
#include <iostream>

#include "config/campaign.hpp"
#include "engine/cli/commands.hpp"
#include "engine/clock.hpp"
#include "engine/planner.hpp"

namespace pigeon::cli {

namespace {

config::campaign_config load_checked(const context& ctx, const std::string& file,
                                     config::engine_config& cfg) {
  cfg = ctx.engine_config(true);
  auto campaign = config::load_campaign(file);
  auto issues = engine::validate_campaign(campaign, cfg);
  if (!issues.empty()) throw config::config_error(std::move(issues));
  return campaign;
}

int validate_file(const context& ctx, const std::string& file) {
  config::engine_config cfg;
  auto campaign = load_checked(ctx, file, cfg);
  std::size_t variants = 0;
  for (const auto& s : campaign.steps) variants += s.variants.size();
  std::cout << file << ": campaign " << campaign.name << " is valid (" << campaign.steps.size()
            << " steps, " << variants << " variants)\n";
  return 0;
}

int apply_file(const context& ctx, const std::string& file) {
  config::engine_config cfg;
  auto campaign = load_checked(ctx, file, cfg);
  auto db = ctx.open_store(cfg);
  engine::system_clock clk;
  auto s = engine::apply_campaign(campaign, cfg, *db, clk.now());
  if (ctx.json) {
    std::cout << boost::json::serialize(boost::json::object{
                     {"campaign", campaign.name}, {"version", s.version},
                     {"new_version", s.new_version}, {"recipients", s.recipients},
                     {"queued", s.queued}, {"already_queued", s.already_queued}})
              << "\n";
  } else {
    std::cout << "applied " << campaign.name << " version " << s.version
              << (s.new_version ? "" : " (unchanged)") << ": " << s.recipients << " recipients, "
              << s.queued << " messages queued, " << s.already_queued << " already queued\n";
  }
  return 0;
}

int list(const context& ctx) {
  auto cfg = ctx.engine_config(false);
  auto db = ctx.open_store(cfg);
  auto campaigns = db->list_campaigns();
  if (ctx.json) {
    boost::json::array out;
    for (const auto& c : campaigns)
      out.push_back({{"name", c.name}, {"version", c.version}, {"state", c.state},
                     {"sender", c.sender}, {"category", c.category},
                     {"applied_at", engine::format_iso(c.applied_at)}});
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  std::printf("%-28s %7s %-10s %-12s %s\n", "CAMPAIGN", "VERSION", "STATE", "SENDER", "APPLIED");
  for (const auto& c : campaigns)
    std::printf("%-28s %7d %-10s %-12s %s\n", c.name.c_str(), c.version, c.state.c_str(),
                c.sender.c_str(), engine::format_iso(c.applied_at).c_str());
  return 0;
}

int show(const context& ctx, const std::string& name) {
  auto cfg = ctx.engine_config(false);
  auto db = ctx.open_store(cfg);
  auto c = db->find_campaign(name);
  if (!c) {
    std::cerr << "pigeon: no campaign named " << name << "\n";
    return 1;
  }
  auto st = db->status(engine::system_clock().now());
  boost::json::object counts;
  for (const auto& cc : st.campaigns)
    if (cc.name == name)
      for (const auto& [state, n] : cc.by_state) counts[state] = n;
  if (ctx.json) {
    boost::json::array templates;
    for (const auto& t : c->templates)
      templates.push_back({{"step", t.step}, {"variant", t.variant}, {"weight", t.weight},
                           {"kind", t.kind}, {"text", t.text}});
    std::cout << boost::json::serialize(boost::json::object{
                     {"name", c->name}, {"version", c->version}, {"state", c->state},
                     {"sender", c->sender}, {"category", c->category},
                     {"priority", c->priority}, {"source", c->source_path},
                     {"templates", std::move(templates)}, {"messages", std::move(counts)}})
              << "\n";
    return 0;
  }
  std::cout << "campaign " << c->name << " version " << c->version << " (" << c->state << ")\n"
            << "sender " << c->sender << ", " << c->category << ", priority " << c->priority
            << ", from " << c->source_path << "\n";
  for (const auto& t : c->templates)
    std::cout << "  " << t.step << "/" << t.variant << " [" << t.kind << ", weight " << t.weight
              << "] " << t.text << "\n";
  std::cout << "messages:";
  for (const auto& [state, n] : counts)
    if (n.as_int64() > 0) std::cout << " " << state << "=" << n.as_int64();
  std::cout << "\n";
  return 0;
}

int set_state(const context& ctx, const std::string& name, const std::string& state) {
  auto cfg = ctx.engine_config(false);
  auto db = ctx.open_store(cfg);
  if (!db->set_campaign_state(name, state, engine::system_clock().now())) {
    std::cerr << "pigeon: no campaign named " << name << "\n";
    return 1;
  }
  std::cout << "campaign " << name << " is now " << state << "\n";
  return 0;
}

}  // namespace

void register_campaign(CLI::App& app, context& ctx, int& exit_code) {
  auto* campaign = app.add_subcommand("campaign", "validate, apply and control campaigns");
  campaign->require_subcommand(1);
  static std::string file, name;
  auto* v = campaign->add_subcommand("validate", "check a campaign file; every error with file:line:col");
  v->add_option("file", file)->required();
  v->callback([&] { exit_code = validate_file(ctx, file); });
  auto* a = campaign->add_subcommand("apply", "validate, store (versioned) and schedule");
  a->add_option("file", file)->required();
  a->callback([&] { exit_code = apply_file(ctx, file); });
  campaign->add_subcommand("list", "every campaign")->callback([&] { exit_code = list(ctx); });
  auto* s = campaign->add_subcommand("show", "one campaign: templates and message counts");
  s->add_option("name", name)->required();
  s->callback([&] { exit_code = show(ctx, name); });
  for (auto [verb, state] : {std::pair{"pause", "paused"}, std::pair{"resume", "active"},
                             std::pair{"cancel", "cancelled"}}) {
    auto* c = campaign->add_subcommand(verb, std::string(verb) + " a campaign");
    c->add_option("name", name)->required();
    std::string st = state;
    c->callback([&ctx, &exit_code, st] { exit_code = set_state(ctx, name, st); });
  }
}

}  // namespace pigeon::cli
