#include "engine/campaign/apply.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <sstream>
#include <unordered_map>

#include "config/values.hpp"
#include "engine/policy/caps.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/dispatch/media_files.hpp"
#include "engine/model/phone.hpp"
#include "engine/policy/send_policy.hpp"
#include "engine/inbound/replies.hpp"
#include "engine/policy/send_window.hpp"
#include "templates/template.hpp"

namespace pigeon::engine::campaign {
namespace {

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

time_point from_local(date::local_time<std::chrono::minutes> local, const std::string& tz) {
  return policy::local_to_utc(local, policy::find_zone(tz));
}

// The location of a template error inside a YAML scalar: same line moves the column.
config::source_location template_location(const config::source_location& scalar,
                                          const templates::template_error& e) {
  config::source_location loc = scalar;
  if (e.line() <= 1) {
    loc.column = scalar.column + e.column();  // +1 for a quote is within a column of slack
  } else {
    loc.line = scalar.line + e.line() - 1;
    loc.column = e.column();
  }
  return loc;
}

}  // namespace

std::vector<config::config_issue> validate_campaign(const config::campaign_config& campaign,
                                                    const config::engine_config& engine) {
  auto issues = config::check_campaign_against(campaign, engine);
  auto audience = audience_issues(campaign.audience, engine);
  issues.insert(issues.end(), audience.begin(), audience.end());
  auto frequency = policy::frequency_issues(engine);
  issues.insert(issues.end(), frequency.begin(), frequency.end());
  auto trigger = trigger_issues(campaign, engine);
  issues.insert(issues.end(), trigger.begin(), trigger.end());
  for (const auto& step : campaign.steps) {
    for (const auto& variant : step.variants) {
      for (const std::string* text : {&variant.text, &variant.subject}) {
        try {
          (void)templates::compiled_template::compile(*text);
        } catch (const templates::template_error& e) {
          issues.push_back({template_location(variant.where, e),
                            "step `" + step.id + "` variant " + variant.name + ": " + e.what()});
        }
      }
    }
    // An `at` the file's own check refused (or a relative one without an anchor) is reported
    // there already; a follow-up step's `at` counts from a reply.
    auto at = config::parse_step_at(step.at);
    const bool follow_up = config::follow_up_of(campaign, step.id) != nullptr;
    bool readable = at && (follow_up || at->kind != config::step_time_kind::relative ||
                           config::parse_iso_date(campaign.anchor));
    bool ok = follow_up ? follow_up_due(step.at, time_point{}, "UTC").has_value()
                        : step_due(step, campaign.anchor, "UTC", time_point{}).has_value();
    if (readable && !ok) issues.push_back({step.at_where, "cannot read `at: " + step.at + "`"});
  }
  return issues;
}

stored_campaign to_stored(const config::campaign_config& campaign) {
  stored_campaign s;
  s.name = campaign.name;
  s.sender = campaign.sender;
  s.category = campaign.category;
  s.priority = campaign.priority;
  s.source_path = campaign.path;
  s.source_text = campaign.source_text;
  if (campaign.caps) {
    s.cap.max = campaign.caps->max;
    s.cap.per = campaign.caps->per;
  }
  s.on_cap = campaign.on_cap;
  s.stop_on = campaign.stop_on;
  for (const auto& step : campaign.steps) {
    const auto& window = step.window ? step.window : campaign.window;
    for (const auto& v : step.variants) {
      campaign_template t{step.id,   v.name,  v.weight, step.kind, v.text,
                          v.subject, v.media, false,    {},        {}};
      if (window) {
        t.has_window = true;
        t.window_days = window->days;
        t.window_between = window->between;
      }
      s.templates.push_back(std::move(t));
    }
  }
  if (!campaign.replies_valid_for.empty() || !campaign.keywords.empty()) {
    reply_config replies;
    if (auto d = config::parse_duration(campaign.replies_valid_for)) replies.valid_for = *d;
    for (const auto& k : campaign.keywords) {
      reply_keyword rk;
      rk.keyword = k.keyword;
      rk.normalized = inbound::normalize_reply(k.keyword);
      rk.tag = k.tag;
      rk.respond = k.respond;
      rk.action = k.action;
      rk.step = k.step;
      rk.max = k.max;
      if (auto per = config::parse_duration(k.per)) rk.per = *per;
      for (const auto& step : campaign.steps) {
        if (step.id != k.step || k.action != "follow_up") continue;
        rk.step_at = step.at;
        if (!step.variants.empty()) rk.step_variant = step.variants.front().name;
      }
      replies.keywords.push_back(std::move(rk));
    }
    s.replies = std::move(replies);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(fnv1a(campaign.source_text)));
  s.content_hash = hex;
  return s;
}

std::optional<time_point> step_due(const config::step_config& step, const std::string& anchor,
                                   const std::string& tz, time_point now) {
  const std::string& at = step.at;
  if (at == "now") return now;
  static const std::regex relative(R"(^([+-]?\d+)d(?:\s+(\d{1,2}):(\d{2}))?$)");
  static const std::regex local_abs(R"(^(\d{4}-\d{2}-\d{2})[T ](\d{1,2}):(\d{2})(?::00)?$)");
  std::smatch m;
  if (std::regex_match(at, m, relative)) {
    std::istringstream in(anchor);
    date::local_days day;
    in >> date::parse("%F", day);
    if (in.fail()) return std::nullopt;
    int hh = m[2].matched ? std::stoi(m[2]) : 0, mm = m[3].matched ? std::stoi(m[3]) : 0;
    if (hh > 23 || mm > 59) return std::nullopt;
    auto local =
        day + date::days(std::stoi(m[1])) + std::chrono::hours(hh) + std::chrono::minutes(mm);
    return from_local(local, tz);
  }
  if (std::regex_match(at, m, local_abs)) {
    std::istringstream in(m[1].str());
    date::local_days day;
    in >> date::parse("%F", day);
    int hh = std::stoi(m[2]), mm = std::stoi(m[3]);
    if (in.fail() || hh > 23 || mm > 59) return std::nullopt;
    return from_local(day + std::chrono::hours(hh) + std::chrono::minutes(mm), tz);
  }
  return parse_iso(at);  // with an explicit offset or Z
}

time_point end_of_local_day(time_point t, const std::string& tz) {
  auto zone = policy::find_zone(tz);
  auto local = zone->to_local(t);
  auto next_day = date::floor<date::days>(local) + date::days(1);
  return from_local(std::chrono::time_point_cast<std::chrono::minutes>(next_day), tz);
}

std::optional<time_point> follow_up_due(const std::string& at, time_point reply,
                                        const std::string& tz) {
  auto parsed = config::parse_step_at(at);
  if (!parsed) return std::nullopt;
  switch (parsed->kind) {
    case config::step_time_kind::now:
      return reply;
    case config::step_time_kind::after:
      return reply + parsed->delay;
    case config::step_time_kind::relative: {
      if (parsed->day_offset < 0) return std::nullopt;
      if (!parsed->time_of_day) return reply + date::days(parsed->day_offset);
      // The recipient's local date of the reply, N days on, at HH:MM; never before the reply.
      auto local_day = date::floor<date::days>(policy::find_zone(tz)->to_local(reply));
      auto due = from_local(std::chrono::time_point_cast<std::chrono::minutes>(
                                local_day + date::days(parsed->day_offset) + *parsed->time_of_day),
                            tz);
      return std::max(due, reply);
    }
    case config::step_time_kind::absolute:
      return std::nullopt;
  }
  return std::nullopt;
}

namespace {

audience_expr::tier_map compile_tiers(const config::engine_config& engine,
                                      std::vector<config::config_issue>& issues) {
  audience_expr::tier_map tiers;
  for (const auto& [name, text] : engine.policy.tiers) {
    try {
      tiers.emplace(name, audience_expr::compile(text));
    } catch (const audience_expr_error& e) {
      issues.push_back({{engine.path, 0, 0},
                        "policy.tiers." + name + ": `" + text + "`: " + e.what() + " (column " +
                            std::to_string(e.column()) + ")"});
    }
  }
  return tiers;
}

// Compiles every `where` entry; problems go to `issues` with the entry's YAML location (the
// column moves by the expression's column when the entry is on one line).
std::vector<audience_expr> compile_where(const config::audience_config& audience,
                                         const config::engine_config& engine,
                                         std::vector<config::config_issue>& issues) {
  auto tiers = compile_tiers(engine, issues);
  std::vector<audience_expr> out;
  for (std::size_t i = 0; i < audience.where.size(); ++i) {
    auto loc =
        i < audience.where_locations.size() ? audience.where_locations[i] : audience.location;
    try {
      out.push_back(audience_expr::compile(audience.where[i], &tiers));
    } catch (const audience_expr_error& e) {
      // +1 for the quote that usually opens the YAML scalar.
      if (loc.line > 0) loc.column += e.column();
      issues.push_back({loc, "audience.where: `" + audience.where[i] + "`: " + e.what()});
    }
  }
  return out;
}

}  // namespace

std::vector<config::config_issue> audience_issues(const config::audience_config& audience,
                                                  const config::engine_config& engine) {
  std::vector<config::config_issue> issues;
  compile_where(audience, engine, issues);
  return issues;
}

audience_filter::audience_filter(const config::audience_config& audience,
                                 const config::engine_config& engine)
    : all_tags_(audience.all_tags), any_tags_(audience.any_tags), none_tags_(audience.none_tags) {
  std::vector<config::config_issue> issues;
  where_ = compile_where(audience, engine, issues);
  if (!issues.empty()) throw config::config_error(std::move(issues));
}

bool audience_filter::matches(const contact& c, time_point now) const {
  auto has = [&](const std::string& tag) {
    return std::find(c.tags.begin(), c.tags.end(), tag) != c.tags.end();
  };
  if (!std::all_of(all_tags_.begin(), all_tags_.end(), has)) return false;
  if (!any_tags_.empty() && std::none_of(any_tags_.begin(), any_tags_.end(), has)) return false;
  if (std::any_of(none_tags_.begin(), none_tags_.end(), has)) return false;
  return std::all_of(where_.begin(), where_.end(),
                     [&](const audience_expr& e) { return e.matches(c, now); });
}

std::optional<time_point> audience_filter::next_change(const contact& c, time_point now) const {
  std::optional<time_point> next;
  for (const auto& e : where_)
    if (auto t = e.next_change(c, now); t && (!next || *t < *next)) next = t;
  return next;
}

std::string choose_variant(const config::step_config& step, const std::string& campaign,
                           const std::string& phone) {
  long total = 0;
  for (const auto& v : step.variants) total += v.weight;
  if (step.variants.size() == 1 || total <= 0) return step.variants.front().name;
  // Keyed on the campaign (not the step) so a recipient sees the same wording in every step.
  auto bucket = static_cast<long>(fnv1a(phone, fnv1a(campaign + ":")) % total);
  for (const auto& v : step.variants) {
    if (bucket < v.weight) return v.name;
    bucket -= v.weight;
  }
  return step.variants.back().name;
}

std::vector<config::config_issue> past_step_issues(const config::campaign_config& campaign,
                                                   time_point now) {
  std::vector<config::config_issue> issues;
  // UTC-12 is the last zone to reach any local time, so its end of day is the latest validity.
  const std::string last_zone = "Etc/GMT+12";
  for (std::size_t i = 0; i < campaign.steps.size(); ++i) {
    const auto& step = campaign.steps[i];
    if (step.at == "now" || config::follow_up_of(campaign, step.id)) continue;
    auto due = step_due(step, campaign.anchor, last_zone, now);
    if (!due || end_of_local_day(*due, last_zone) > now) continue;
    issues.push_back({step.at_where, "steps[" + std::to_string(i) + "].at: '" + step.at +
                                         "' is already past in every time zone (due by " +
                                         format_iso(*due) + ", now " + format_iso(now) +
                                         "); its messages would only expire. Use \"now\" or a "
                                         "later time"});
  }
  return issues;
}

bool in_holdout(int holdout_percent, const std::string& campaign, const std::string& phone) {
  if (holdout_percent <= 0) return false;
  return static_cast<int>(fnv1a(phone, fnv1a(campaign + ":holdout:")) % 100) < holdout_percent;
}

bool in_ab_sample(int sample_percent, const std::string& campaign, const std::string& phone) {
  if (sample_percent >= 100) return true;
  return static_cast<int>(fnv1a(phone, fnv1a(campaign + ":sample:")) % 100) < sample_percent;
}

namespace {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Per step, how far apart its messages' due times may be spread: policy.window_spread when the
// step falls due at its window's opening (the start of a window, where a whole audience would
// otherwise fall due in the same second), at most half the window so a spread message is still
// inside it; 0 otherwise (a step due elsewhere keeps its time; one outside its window is deferred
// and spread by the dispatcher).
std::vector<std::int64_t> spread_ms_per_step(const config::campaign_config& campaign,
                                             const config::engine_config& engine, time_point now) {
  std::vector<std::int64_t> out;
  auto spread = std::chrono::duration_cast<std::chrono::milliseconds>(engine.policy.window_spread);
  for (const auto& step : campaign.steps) {
    std::int64_t ms = 0;
    const auto& w = step.window ? step.window : campaign.window;
    auto cw = w ? policy::parse_window(w->days, w->between) : std::nullopt;
    // The step's wall-clock time: its due time computed as if local time were UTC.
    auto local = step.at == "now" || config::follow_up_of(campaign, step.id)
                     ? std::nullopt
                     : step_due(step, campaign.anchor, "UTC", now);
    if (cw && !cw->all_day() && local) {
      auto minute =
          std::chrono::duration_cast<std::chrono::minutes>(*local - date::floor<date::days>(*local))
              .count();
      if (minute == cw->from_minute) {
        std::int64_t length = ((cw->to_minute - cw->from_minute) % 1440 + 1440) % 1440;
        ms = std::min<std::int64_t>(spread.count(), length * 60'000 / 2);
      }
    }
    out.push_back(ms);
  }
  return out;
}

}  // namespace

apply_summary apply_campaign(const config::campaign_config& campaign,
                             const config::engine_config& engine, store& db, time_point now,
                             const media_probe& url_probe, const apply_progress& progress) {
  auto issues = validate_campaign(campaign, engine);
  auto past = past_step_issues(campaign, now);
  issues.insert(issues.end(), past.begin(), past.end());
  if (!issues.empty()) throw config::config_error(std::move(issues));

  const bool marketing = campaign.category == "marketing";
  audience_filter audience(campaign.audience, engine);
  policy::cap_policy caps(engine);
  std::optional<cap_rule> campaign_rule;
  if (campaign.caps) campaign_rule = policy::campaign_cap(campaign.caps->max, campaign.caps->per);
  const auto spread_ms = spread_ms_per_step(campaign, engine, now);

  // One pass over the contacts inside one transaction: the length budget check and the enqueue
  // together. A budget that does not fit throws at the end and rolls everything back, so as
  // before nothing is stored unless every recipient fits.
  apply_summary summary;
  db.transaction([&] {
    auto before = db.find_campaign(campaign.name);
    auto stored = to_stored(campaign);
    const auto base = std::filesystem::path(campaign.path).parent_path().string();
    for (auto& t : stored.templates)
      t.media = dispatch::stored_media(t.media, base, engine.media_dir);
    summary.version = db.save_campaign(stored);
    summary.new_version = !before || before->version != summary.version;
    if (before && before->state == "cancelled") {
      summary.restarted = true;
      db.restart_cancelled(campaign.name, now);
    }
    if (before && summary.new_version) {
      std::vector<std::string> steps;
      for (const auto& step : campaign.steps) steps.push_back(step.id);
      summary.removed_step_messages = db.suppress_removed_steps(
          campaign.name, steps, "step removed in version " + std::to_string(summary.version), now);
    }
    if (campaign.trigger) {
      // A journey: nothing is queued for the audience as a whole; each recipient enters when
      // their own trigger fires (engine/campaign/journeys.hpp). The length budget is checked for
      // every contact the audience holds now.
      budget_checker budget(campaign, engine, url_probe);
      std::int64_t done = 0;
      db.for_each_contact([&](const contact& c) {
        if (progress) progress("checked", ++done, 0);
        if (audience.matches(c, now)) budget.add(c);
      });
      journey_engine journeys(engine);
      auto r = journeys.apply(db, campaign, summary.version, now);
      summary.journey = true;
      summary.recipients = r.indexed;
      summary.queued = r.messages;
      summary.journey_entered = r.entered;
      summary.journey_skipped = r.skipped;
      summary.journey_blocked = r.blocked;
      if (campaign.ab_test) {
        ab_decision test;
        test.campaign = campaign.name;
        test.metric = campaign.ab_test->metric;
        test.decide_after = config::parse_duration(campaign.ab_test->decide_after)
                                .value_or(std::chrono::seconds(0));
        test.min_per_variant = campaign.ab_test->min_per_variant;
        db.register_ab_test(test, std::nullopt);
      } else {
        ab_decision none;
        none.campaign = campaign.name;
        db.register_ab_test(none, std::nullopt);
      }
      auto report = budget.finish();
      if (!report.ok()) throw config::config_error(report.issues());
      return;
    }
    // ab_test: a decided winner is what new recipients get from now on; while undecided, a
    // `sample` holds the variant steps of the recipients outside it until the decision.
    std::string winner;
    bool sampling = false;
    std::chrono::milliseconds decide_after{0};
    if (campaign.ab_test) {
      decide_after =
          config::parse_duration(campaign.ab_test->decide_after).value_or(std::chrono::seconds(0));
      auto test = db.find_ab_test(campaign.name);
      if (test && test->decided_at)
        winner = test->winner;
      else
        sampling = campaign.ab_test->sample_percent < 100;
    }
    std::optional<time_point> first_held;            // when the earliest held message falls due
    const auto opted_out = db.opted_out_contacts();  // sorted by id
    // The ledger as far back as the longest rule reaches from the earliest step: recipients
    // already over a cap when their message falls due are deferred or dropped here already.
    std::unordered_map<std::int64_t, std::vector<policy::counted_send>> ledger;
    std::chrono::milliseconds longest =
        campaign_rule ? campaign_rule->per : std::chrono::milliseconds{0};
    for (const auto& f : engine.policy.frequency)
      longest = std::max<std::chrono::milliseconds>(longest, f.per);
    if (marketing && longest.count() > 0) {
      db.for_each_capped_send(now - longest,
                              [&](std::int64_t id, const std::string& name, time_point at) {
                                ledger[id].push_back({at, name == campaign.name});
                              });
    }
    // Follow-up steps are queued by replies only (handle_inbound), never for the audience.
    std::vector<bool> follow_up;
    for (const auto& step : campaign.steps)
      follow_up.push_back(config::follow_up_of(campaign, step.id) != nullptr);
    std::vector<std::string_view> step_winner;
    for (const auto& step : campaign.steps) {
      bool has = !winner.empty() &&
                 std::any_of(step.variants.begin(), step.variants.end(),
                             [&](const config::variant_config& v) { return v.name == winner; });
      step_winner.push_back(has ? std::string_view(winner) : std::string_view());
    }

    std::vector<new_message> batch;
    std::vector<apply_deferral> deferrals;
    auto flush = [&] {
      auto added = db.enqueue(batch);
      summary.queued += added;
      summary.already_queued += batch.size() - added;
      batch.clear();
      if (!deferrals.empty()) db.defer_at_apply(campaign.name, deferrals);
      deferrals.clear();
    };
    // Due times and validity depend only on the zone: computed once per zone, not per contact.
    std::unordered_map<std::string, std::vector<std::pair<time_point, time_point>>, string_hash,
                       std::equal_to<>>
        times_by_zone;
    std::int64_t done = 0;
    const std::uint64_t spread_seed = fnv1a(campaign.name + ":spread:");
    budget_checker budget(campaign, engine, url_probe);
    auto enqueue_for = [&](const contact& c) {
      ++summary.recipients;
      if (std::binary_search(opted_out.begin(), opted_out.end(), c.id)) {
        ++summary.opted_out;
        return;
      }
      std::string_view tz = recipient_timezone(c.tz, c.phone, engine.default_timezone);
      bool held_out = in_holdout(campaign.holdout, campaign.name, c.phone);
      summary.held_out += held_out ? 1 : 0;
      bool held_for_decision =
          sampling && !held_out &&
          !in_ab_sample(campaign.ab_test->sample_percent, campaign.name, c.phone);
      auto zone_it = times_by_zone.find(tz);
      if (zone_it == times_by_zone.end()) {
        std::string zone(tz);
        std::vector<std::pair<time_point, time_point>> times;
        for (const auto& step : campaign.steps) {
          if (follow_up[times.size()]) {
            times.emplace_back();  // queued by a reply, not here
            continue;
          }
          auto due = *step_due(step, campaign.anchor, zone, now);
          times.emplace_back(due, end_of_local_day(due, zone));
        }
        zone_it = times_by_zone.emplace(std::move(zone), std::move(times)).first;
      }
      const auto& times = zone_it->second;
      const std::uint64_t spread_key = fnv1a(c.phone, spread_seed);
      const auto sent_before = ledger.find(c.id);
      for (std::size_t i = 0; i < campaign.steps.size(); ++i) {
        if (follow_up[i]) continue;
        const auto& step = campaign.steps[i];
        auto due = times[i].first;
        if (spread_ms[i] > 0)
          due += std::chrono::milliseconds(spread_key % static_cast<std::uint64_t>(spread_ms[i]));
        new_message m{campaign.name, step.id, std::string(), c.id, due, times[i].second};
        if (held_out) {
          m.variant = "holdout";
          m.suppressed_reason = "holdout";
        } else if (!step_winner[i].empty()) {
          m.variant = std::string(step_winner[i]);
        } else {
          m.variant = choose_variant(step, campaign.name, c.phone);
        }
        if (held_for_decision && step.variants.size() > 1) {
          // Waits for the decision: due at the earliest one could come (the step's time +
          // decide_after); every check that leaves the test undecided moves it to the next.
          auto until = std::max(due, now) + decide_after;
          deferrals.push_back({step.id, c.id, until, ab_held_reason});
          first_held = first_held ? std::min(*first_held, until) : until;
          ++summary.ab_held;
        } else if (!held_out && sent_before != ledger.end()) {
          // The policy at dispatch, on the ledger as it stands (no preferences, priorities or
          // stop_on: the queue is being written).
          auto at = std::max(due, now);
          auto v = policy::decide(policy::simulated_send(campaign, campaign_rule,
                                                         caps.rules_for(c, std::string(tz), at),
                                                         sent_before->second, at, times[i].second));
          if (v.what == policy::decision::suppressed) {
            m.suppressed_reason = v.rule + " (at apply)";
            ++summary.capped_dropped;
          } else if (v.what == policy::decision::expired) {
            m.suppressed_reason = v.rule + " (at apply): a slot frees only after its validity (" +
                                  format_iso(times[i].second) + ")";
            ++summary.capped_dropped;
          } else if (v.what == policy::decision::deferred) {
            deferrals.push_back({step.id, c.id, v.until, v.rule + " (at apply)"});
            ++summary.capped_deferred;
          }
        }
        batch.push_back(std::move(m));
      }
      if (batch.size() >= 5000) flush();
    };
    db.for_each_contact([&](const contact& c) {
      if (progress) progress("checked", ++done, 0);
      if (!audience.matches(c, now)) return;
      budget.add(c);
      enqueue_for(c);
    });
    flush();
    if (campaign.ab_test) {
      ab_decision test;
      test.campaign = campaign.name;
      test.metric = campaign.ab_test->metric;
      test.decide_after = decide_after;
      test.min_per_variant = campaign.ab_test->min_per_variant;
      test.sample_percent = campaign.ab_test->sample_percent;
      db.register_ab_test(test, first_held);
    } else {
      ab_decision none;  // this version has none: an undecided test goes
      none.campaign = campaign.name;
      db.register_ab_test(none, std::nullopt);
    }
    auto report = budget.finish();
    if (!report.ok()) throw config::config_error(report.issues());
  });
  return summary;
}

}  // namespace pigeon::engine::campaign
