// pigeon campaign validate|apply|preview|list|show|pause|resume|cancel (plan: plan_cmd.cpp)
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <optional>

#include "config/campaign.hpp"
#include "engine/campaign/ab_decision.hpp"
#include "engine/campaign/apply.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/campaign/length_budget.hpp"
#include "engine/cli/commands.hpp"
#include "engine/cli/progress.hpp"
#include "engine/model/clock.hpp"
#include "engine/model/phone.hpp"
#include "engine/net/media_probe.hpp"

namespace pigeon::engine::cli {

namespace {

// Whether the database exists yet (preview never creates it).
bool database_exists(const context& ctx, const config::engine_config& cfg) {
  return ctx.database_exists(cfg);
}

int apply_file(const context& ctx, const std::string& file, const std::string& clock) {
  config::engine_config cfg;
  auto campaign = load_checked_campaign(ctx, file, cfg);
  auto now = make_clock(clock)->now();
  auto db = ctx.open_store(cfg, context::store_open::create);
  // One pass over the contacts (length budget and enqueue together): a bar on a TTY only.
  std::optional<progress_bar> checking(std::in_place, "checked", 0, !ctx.json);
  auto s = campaign::apply_campaign(
      campaign, cfg, *db, now, net::make_url_media_probe(),
      [&](std::string_view, std::int64_t done, std::int64_t) { checking->update(done); });
  checking.reset();
  if (ctx.json) {
    std::cout << boost::json::serialize(
                     boost::json::object{{"campaign", campaign.name},
                                         {"version", s.version},
                                         {"new_version", s.new_version},
                                         {"recipients", s.recipients},
                                         {"queued", s.queued},
                                         {"already_queued", s.already_queued},
                                         {"held_out", s.held_out},
                                         {"ab_held", s.ab_held},
                                         {"opted_out", s.opted_out},
                                         {"capped_deferred", s.capped_deferred},
                                         {"capped_dropped", s.capped_dropped},
                                         {"removed_step_messages", s.removed_step_messages},
                                         {"restarted", s.restarted},
                                         {"journey", s.journey},
                                         {"journey_entered", s.journey_entered},
                                         {"journey_skipped", s.journey_skipped}})
              << "\n";
  } else if (s.journey) {
    // A journey queues nothing for the audience at once: each recipient enters on their own.
    std::cout << "applied journey " << campaign.name << " version " << s.version
              << (s.new_version ? "" : " (unchanged)") << ": " << s.recipients
              << " contacts indexed for its trigger, entered " << s.journey_entered
              << " occurrences due now (" << s.queued << " messages queued)";
    if (s.journey_skipped > 0)
      std::cout << ", " << s.journey_skipped
                << " contacts skipped: their trigger date does not read (campaign show names them)";
    std::cout << "\n";
  } else {
    std::cout << "applied " << campaign.name << " version " << s.version
              << (s.new_version ? "" : " (unchanged)") << ": " << s.recipients << " recipients, "
              << s.queued << " messages queued, " << s.already_queued << " already queued";
    if (s.held_out > 0) std::cout << ", " << s.held_out << " recipients held out";
    if (s.ab_held > 0)
      std::cout << ", " << s.ab_held << " messages held for the A/B decision (outside the "
                << campaign.ab_test->sample_percent << "% sample)";
    if (s.opted_out > 0) std::cout << ", " << s.opted_out << " opted out (nothing queued)";
    if (s.capped_deferred > 0)
      std::cout << ", " << s.capped_deferred << " deferred (over a frequency cap already)";
    if (s.capped_dropped > 0)
      std::cout << ", " << s.capped_dropped << " suppressed (over a frequency cap already)";
    if (s.removed_step_messages > 0)
      std::cout << ", " << s.removed_step_messages
                << " queued messages of removed steps suppressed (step removed in version "
                << s.version << ")";
    std::cout << "\n";
    if (s.restarted)
      std::cout << "campaign " << campaign.name
                << " was cancelled: started anew (state active; what was already sent is not "
                   "sent again)\n";
  }
  if (auto w = campaign::ab_evidence_warning(campaign, s.recipients - s.opted_out))
    std::cerr << w->to_string() << "\n";
  return 0;
}

std::string engine_enc(templates::encoding e) { return std::string(templates::to_string(e)); }

const char* problem_name(campaign::budget_problem p) {
  switch (p) {
    case campaign::budget_problem::sms_overflow:
      return "sms_overflow";
    case campaign::budget_problem::mms_overflow:
      return "mms_overflow";
    case campaign::budget_problem::missing_attributes:
      return "missing_attributes";
    case campaign::budget_problem::bad_media:
      return "bad_media";
  }
  return "unknown";
}

boost::json::array int_array(const std::vector<int>& v) {
  boost::json::array out;
  for (int x : v) out.push_back(x);
  return out;
}

boost::json::array string_array(const std::vector<std::string>& v) {
  boost::json::array out;
  for (const auto& x : v) out.push_back(boost::json::string(x));
  return out;
}

boost::json::object problem_json(const campaign::budget_finding& f) {
  boost::json::array examples;
  for (const auto& e : f.examples) {
    boost::json::object values;
    for (const auto& [k, v] : e.values) values[k] = v;
    examples.push_back({{"phone", e.phone},
                        {"encoding", engine_enc(e.enc)},
                        {"segments", e.segments},
                        {"units", int_array(e.units)},
                        {"total_units", e.total_units},
                        {"bytes", e.bytes},
                        {"values", std::move(values)},
                        {"missing", string_array(e.missing)}});
  }
  std::size_t shown = f.examples.size() - (f.worst_case ? 1 : 0);
  return {{"step", f.step},
          {"variant", f.variant},
          {"problem", problem_name(f.problem)},
          {"where", f.where.to_string()},
          {"limit", f.limit},
          {"recipients", f.recipients},
          {"worst_case", f.worst_case},
          {"examples", std::move(examples)},
          {"more", f.recipients - std::min(shown, f.recipients)},
          {"detail", f.detail}};
}

struct sample {
  std::string phone;  // masked, or "(no attributes)"
  engine::contact c;
};

int preview(const context& ctx, const std::string& file, const std::string& phone) {
  config::engine_config cfg;
  auto campaign = load_checked_campaign(ctx, file, cfg);
  const auto& sender = cfg.senders.at(campaign.sender);
  std::vector<sample> samples;
  std::unique_ptr<engine::store> db;
  if (database_exists(ctx, cfg)) db = ctx.open_store(cfg);
  if (!phone.empty()) {
    auto n = engine::normalize_phone(phone, cfg.default_region);
    if (!n.error.empty()) {
      std::cerr << "pigeon: --contact " << phone << ": " << n.error << "\n";
      return 1;
    }
    auto c = db ? db->find_contact(n.e164) : std::nullopt;
    if (!c) {
      std::cerr << "pigeon: no contact " << engine::mask_phone(n.e164) << " in "
                << ctx.database_label(cfg) << "\n";
      return 1;
    }
    samples.push_back({engine::mask_phone(c->phone), *c});
  }
  campaign::contact_source source;
  campaign::audience_filter audience(campaign.audience, cfg);
  auto now = engine::system_clock().now();
  if (db)
    source = [&](const auto& fn) {
      db->for_each_contact([&](const engine::contact& c) {
        if (phone.empty() && samples.size() < 3 && audience.matches(c, now))
          samples.push_back({engine::mask_phone(c.phone), c});
        fn(c);
      });
    };
  auto report = campaign::check_budget(campaign, cfg, source, net::make_url_media_probe());
  if (samples.empty()) samples.push_back({"(no attributes)", campaign::worst_case_contact()});
  bool fits = report.ok();
  boost::json::array steps_json;
  std::size_t index = 0;
  std::cout << (ctx.json
                    ? ""
                    : "campaign " + campaign.name + ", sender " + campaign.sender + " (SMS up to " +
                          std::to_string(sender.sms_max_segments) + " segment(s), MMS up to " +
                          std::to_string(sender.mms_max_bytes) + " bytes), " +
                          (report.audience_checked
                               ? std::to_string(report.audience) + " recipients\n"
                               : "no database: worst case only\n"));
  for (const auto& step : campaign.steps) {
    for (const auto& variant : step.variants) {
      if (index >= report.variants.size()) break;
      const auto& vb = report.variants[index++];
      bool mms = step.kind == "mms";
      boost::json::array samples_json, media_json;
      if (!ctx.json) {
        std::cout << "\nstep " << step.id << " / variant " << variant.name << " [" << step.kind
                  << "] ";
        if (mms)
          std::cout << "largest " << vb.max_bytes << " bytes";
        else
          std::cout << "up to " << vb.max_segments << " segment(s)";
        std::cout << (vb.fits ? "  fits" : "  DOES NOT FIT") << "\n";
      }
      for (const auto& m : vb.media) {
        media_json.push_back({{"entry", m.entry},
                              {"ok", m.info.ok},
                              {"bytes", m.info.bytes},
                              {"content_type", m.info.content_type},
                              {"error", m.info.error}});
        if (!ctx.json)
          std::cout << "  media " << m.entry << "  " << m.info.content_type << " " << m.info.bytes
                    << " bytes" << (m.info.ok ? "" : "  " + m.info.error) << "\n";
      }
      for (const auto& s : samples) {
        auto r = campaign::render_sample(campaign, cfg, step, variant, s.c);
        long long total = r.text_bytes + vb.media_bytes;
        bool ok = r.missing.empty() && (mms ? total <= sender.mms_max_bytes
                                            : r.info.segments <= sender.sms_max_segments);
        if (s.phone != "(no attributes)") fits = fits && ok;
        std::string enc(templates::to_string(r.info.enc));
        samples_json.push_back({{"phone", s.phone},
                                {"text", r.text},
                                {"subject", r.subject},
                                {"encoding", enc},
                                {"segments", r.info.segments},
                                {"units", int_array(r.info.units)},
                                {"total_units", r.info.total_units},
                                {"bytes", r.text.size()},
                                {"total_bytes", mms ? total : r.text_bytes},
                                {"missing", string_array(r.missing)},
                                {"fits", ok}});
        if (ctx.json) continue;
        std::cout << "  " << s.phone << "  ";
        if (mms)
          std::cout << "subject \"" << r.subject << "\", " << total << " bytes in all";
        else
          std::cout << enc << ", " << r.info.segments << " segment(s), units "
                    << boost::json::serialize(int_array(r.info.units)) << ", " << r.text.size()
                    << " bytes";
        if (!r.missing.empty())
          std::cout << "  MISSING " << boost::json::serialize(string_array(r.missing));
        std::cout << "\n    " << r.text << "\n";
      }
      steps_json.push_back({{"step", step.id},
                            {"variant", variant.name},
                            {"kind", step.kind},
                            {"recipients", vb.recipients},
                            {"max_segments", vb.max_segments},
                            {"max_bytes", vb.max_bytes},
                            {"media_bytes", vb.media_bytes},
                            {"media", std::move(media_json)},
                            {"fits", vb.fits},
                            {"samples", std::move(samples_json)}});
    }
  }
  if (ctx.json) {
    boost::json::array problems;
    for (const auto& f : report.findings) problems.push_back(problem_json(f));
    std::cout << boost::json::serialize(
                     boost::json::object{{"campaign", campaign.name},
                                         {"sender", campaign.sender},
                                         {"sms_max_segments", sender.sms_max_segments},
                                         {"mms_max_bytes", sender.mms_max_bytes},
                                         {"audience", report.audience},
                                         {"audience_checked", report.audience_checked},
                                         {"steps", std::move(steps_json)},
                                         {"problems", std::move(problems)},
                                         {"fits", fits}})
              << "\n";
    return fits ? 0 : 1;
  }
  if (report.ok()) {
    std::cout << "\n" << (fits ? "everything fits\n" : "the sample contact does not fit\n");
    return fits ? 0 : 1;
  }
  std::cout << "\noverflow report:\n";
  for (const auto& issue : report.issues()) std::cout << issue.to_string() << "\n";
  return 1;
}

int list(const context& ctx) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto db = ctx.open_store(cfg);
  auto campaigns = db->list_campaigns();
  if (ctx.json) {
    boost::json::array out;
    for (const auto& c : campaigns)
      out.push_back({{"name", c.name},
                     {"version", c.version},
                     {"state", c.state},
                     {"sender", c.sender},
                     {"category", c.category},
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

// The campaign's ab_test metric from its stored source, or "" (no ab_test, or unreadable).
std::string ab_metric(const engine::stored_campaign& c) {
  try {
    auto parsed = config::parse_campaign(c.source_text, c.source_path);
    return parsed.ab_test ? parsed.ab_test->metric : std::string();
  } catch (const std::exception&) {
    return {};
  }
}

boost::json::object ab_json(const std::vector<engine::variant_stats>& stats,
                            const campaign::ab_comparison& cmp) {
  boost::json::array variants;
  for (const auto& v : stats) {
    boost::json::object replies, events;
    for (const auto& [k, n] : v.replies) replies[k] = n;
    for (const auto& [k, n] : v.events) events[k] = n;
    variants.push_back({{"variant", v.variant},
                        {"recipients", v.recipients},
                        {"sent", v.sent},
                        {"delivered", v.delivered},
                        {"replies", std::move(replies)},
                        {"conversions", std::move(events)}});
  }
  boost::json::object out{{"variants", std::move(variants)}};
  if (!cmp.metric.empty()) {
    boost::json::object test{{"metric", cmp.metric},
                             {"leader", cmp.leader},
                             {"runner_up", cmp.runner_up},
                             {"significant", cmp.significant}};
    test["p_value"] = cmp.p_value ? boost::json::value(*cmp.p_value) : nullptr;
    out["test"] = std::move(test);
  }
  return out;
}

bool is_journey(const engine::stored_campaign& c) {
  try {
    return config::parse_campaign(c.source_text, c.source_path).trigger.has_value();
  } catch (const std::exception&) {
    return false;
  }
}

int show(const context& ctx, const std::string& name) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto db = ctx.open_store(cfg);
  auto c = db->find_campaign(name);
  if (!c) {
    std::cerr << "pigeon: no campaign named " << name << "\n";
    return 1;
  }
  auto st = db->status(engine::system_clock().now());
  auto stats = db->ab_stats(name);
  auto metric = ab_metric(*c);
  auto cmp = campaign::compare_variants(stats, metric);
  auto decision = db->find_ab_test(name);
  std::optional<engine::journey_stats> journey;
  if (is_journey(*c)) journey = db->journey_statistics(name, engine::system_clock().now());
  boost::json::object counts;
  for (const auto& cc : st.campaigns)
    if (cc.name == name)
      for (const auto& [state, n] : cc.by_state) counts[state] = n;
  if (ctx.json) {
    boost::json::array templates;
    for (const auto& t : c->templates)
      templates.push_back({{"step", t.step},
                           {"variant", t.variant},
                           {"weight", t.weight},
                           {"kind", t.kind},
                           {"text", t.text}});
    std::cout << boost::json::serialize(boost::json::object{
                     {"name", c->name},
                     {"version", c->version},
                     {"state", c->state},
                     {"sender", c->sender},
                     {"category", c->category},
                     {"priority", c->priority},
                     {"source", c->source_path},
                     {"templates", std::move(templates)},
                     {"messages", std::move(counts)},
                     {"ab", ab_json(stats, cmp)},
                     {"ab_decision", campaign::ab_decision_json(decision)},
                     {"journey", journey ? boost::json::value(campaign::journey_json(*journey))
                                         : boost::json::value(nullptr)}})
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
  if (stats.size() > 1) {
    std::cout << "variants:\n";
    for (const auto& v : stats) {
      std::cout << "  " << v.variant << ": " << v.recipients << " recipients, " << v.sent
                << " sent, " << v.delivered << " delivered";
      for (const auto& [k, n] : v.replies) std::cout << ", reply " << k << "=" << n;
      for (const auto& [k, n] : v.events) std::cout << ", " << k << "=" << n;
      std::cout << "\n";
    }
    if (!metric.empty() && !cmp.leader.empty()) {
      std::cout << "test on " << metric << ": " << cmp.leader << " leads " << cmp.runner_up;
      if (cmp.p_value)
        std::cout << ", p = " << *cmp.p_value
                  << (cmp.significant ? " (significant)" : " (not significant)");
      else
        std::cout << ", no difference to test yet";
      std::cout << "\n";
    }
  }
  if (decision) std::cout << campaign::describe_ab_decision(*decision) << "\n";
  if (journey) std::cout << campaign::describe_journey(*journey);
  return 0;
}

int set_state(const context& ctx, const std::string& name, const std::string& state) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto db = ctx.open_store(cfg);
  // Cancel is final: it suppressed every queued message, so a resume would show `active` and
  // send nothing. Starting again is an apply, which queues the messages anew.
  if (auto c = db->find_campaign(name); c && c->state == "cancelled" && state != "cancelled") {
    std::cerr << "pigeon: campaign " << name
              << " is cancelled, and a cancel is final (its queued messages were suppressed); "
                 "to send it again, start it anew with `pigeon campaign apply "
              << (c->source_path.empty() ? std::string("FILE.yaml") : c->source_path) << "`\n";
    return 1;
  }
  const auto now = engine::system_clock().now();
  if (!db->set_campaign_state(name, state, now)) {
    std::cerr << "pigeon: no campaign named " << name << "\n";
    return 1;
  }
  std::cout << "campaign " << name << " is now " << state << "\n";
  // A journey did not listen while paused (imports and the API skip it): its index is rebuilt
  // as apply builds it, so who joined or changed meanwhile is placed, and what is open for them
  // now is entered (exactly once, whatever ran before). The days it slept are caught up by the
  // engine's next rollover, from the journey's clock; a step already over is never sent late.
  if (state == "active") {
    auto c = db->find_campaign(name);
    if (c && c->source_text.find("trigger") != std::string::npos) {
      auto parsed = config::parse_campaign(c->source_text, c->source_path);
      if (parsed.trigger) {
        auto r = campaign::journey_engine(cfg).apply(*db, parsed, c->version, now);
        std::cout << "journey " << name << ": " << r.indexed
                  << " contacts indexed for its trigger again, entered " << r.entered
                  << " occurrences\n";
      }
    }
  }
  return 0;
}

}  // namespace

void register_campaign(CLI::App& app, context& ctx, int& exit_code) {
  auto* campaign = app.add_subcommand("campaign", "validate, apply and control campaigns");
  campaign->require_subcommand(1);
  static std::string file, name, clock;
  auto* v =
      campaign->add_subcommand("validate", "check a campaign file; every error with file:line:col");
  v->add_option("file", file)->required();
  auto clock_help =
      "sim:T checks and schedules as of T (a rehearsal: run it with serve --clock "
      "sim:T on a database of its own)";
  v->add_option("--clock", clock, clock_help);
  v->callback([&] { exit_code = validate_campaign_file(ctx, file, clock); });
  auto* a = campaign->add_subcommand("apply", "validate, store (versioned) and schedule");
  a->add_option("file", file)->required();
  a->add_option("--clock", clock, clock_help);
  a->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  a->callback([&] { exit_code = apply_file(ctx, file, clock); });
  auto* p = campaign->add_subcommand(
      "preview", "each step/variant rendered for sample recipients, and the overflow report");
  static std::string contact_phone;
  p->add_option("file", file)->required();
  p->add_option("--contact", contact_phone, "render for this contact only");
  p->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  p->callback([&] { exit_code = preview(ctx, file, contact_phone); });
  register_campaign_plan(*campaign, ctx, exit_code);
  auto* l = campaign->add_subcommand("list", "every campaign");
  l->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  l->callback([&] { exit_code = list(ctx); });
  auto* s = campaign->add_subcommand("show", "one campaign: templates and message counts");
  s->add_option("name", name)->required();
  s->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  s->callback([&] { exit_code = show(ctx, name); });
  for (auto [verb, state] : {std::pair{"pause", "paused"}, std::pair{"resume", "active"},
                             std::pair{"cancel", "cancelled"}}) {
    auto* c = campaign->add_subcommand(verb, std::string(verb) + " a campaign");
    c->add_option("name", name)->required();
    std::string st = state;
    c->callback([&ctx, &exit_code, st] { exit_code = set_state(ctx, name, st); });
  }
}

}  // namespace pigeon::engine::cli
