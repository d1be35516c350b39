#include "engine/campaign/journeys.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/serialize.hpp>

#include "config/values.hpp"
#include "engine/campaign/apply.hpp"
#include "engine/campaign/audience.hpp"
#include "engine/campaign/calendar.hpp"
#include "engine/model/phone.hpp"
#include "engine/policy/send_window.hpp"
#include "templates/template.hpp"

namespace pigeon::engine::campaign {

using namespace std::chrono;
using config::trigger_config;

namespace {

// A trigger expression compiled, or the issue (file:line:col) it raised.
std::optional<audience_expr> compile_at(const std::string& text, config::source_location where,
                                        const char* key, const audience_expr::tier_map* tiers,
                                        std::vector<config::config_issue>& issues) {
  try {
    return audience_expr::compile(text, tiers);
  } catch (const audience_expr_error& e) {
    if (where.line > 0) where.column += e.column();  // +1 for the opening quote
    issues.push_back({where, std::string("trigger.") + key + ": `" + text + "`: " + e.what()});
    return std::nullopt;
  }
}

audience_expr::tier_map tiers_of(const config::engine_config& engine) {
  audience_expr::tier_map tiers;
  for (const auto& [name, text] : engine.policy.tiers) {
    try {
      tiers.emplace(name, audience_expr::compile(text));
    } catch (const audience_expr_error&) {  // the engine config's check reports it
    }
  }
  return tiers;
}

// The earliest step's negative day offset: how many days before the anchor day a date journey
// is entered (its "-7d 09:00" step must be queued a week ahead).
int lead_days(const config::campaign_config& c) {
  int lead = 0;
  for (const auto& step : c.steps) {
    auto at = config::parse_step_at(step.at);
    if (at && at->kind == config::step_time_kind::relative && !config::follow_up_of(c, step.id))
      lead = std::max(lead, -at->day_offset);
  }
  return lead;
}

}  // namespace

// One journey campaign, compiled.
class journey {
 public:
  journey(config::campaign_config c, const config::engine_config& engine, int version)
      : campaign_(std::move(c)), version_(version), audience_(campaign_.audience, engine) {
    auto tiers = tiers_of(engine);
    std::vector<config::config_issue> issues;
    const auto& t = *campaign_.trigger;
    if (t.type == trigger_config::kind::enters)
      enters_ = compile_at(t.enters, t.enters_loc, "enters", &tiers, issues);
    if (t.type == trigger_config::kind::event && !t.where.empty())
      where_ = compile_at(t.where, t.event_where_loc, "where", nullptr, issues);
    if (!issues.empty()) throw config::config_error(std::move(issues));
    lead_ = lead_days(campaign_);
  }

  const config::campaign_config& campaign() const { return campaign_; }
  const trigger_config& trigger() const { return *campaign_.trigger; }
  const std::string& name() const { return campaign_.name; }
  int version() const { return version_; }
  int lead() const { return lead_; }
  const audience_filter& audience() const { return audience_; }
  const std::optional<audience_expr>& enters() const { return enters_; }
  const std::optional<audience_expr>& where() const { return where_; }

 private:
  config::campaign_config campaign_;
  int version_;
  audience_filter audience_;
  std::optional<audience_expr> enters_, where_;
  int lead_ = 0;
};

namespace {

struct entry_request {
  std::string occurrence;
  std::optional<civil_day> anchor_day;  // date triggers: steps count from this local day
  time_point moment{};                  // enters/event: steps count from this instant
  boost::json::object context;
};

// A decided A/B test's winner, which later entries get, as a broadcast's later recipients do;
// empty while undecided (or without a test).
std::string ab_winner(store& db, const config::campaign_config& cfg) {
  if (!cfg.ab_test) return {};
  if (auto test = db.find_ab_test(cfg.name); test && test->decided_at) return test->winner;
  return {};
}

// Entries of one journey, stored in batches (journey_store::enter_journeys): one transaction per
// batch rather than one per contact. Counts what was entered into `r` as each batch is stored;
// flush() stores the rest (nothing is stored by destruction).
class entry_batch {
 public:
  entry_batch(store& db, const journey& j, time_point now, journey_result& r)
      : db_(db), j_(j), now_(now), r_(r), winner_(ab_winner(db, j.campaign())) {}

  const std::string& winner() const { return winner_; }

  void add(journey_entry e) {
    if (e.messages.empty()) return;  // nothing left of this occurrence
    entries_.push_back(std::move(e));
    if (entries_.size() >= 500) flush();
  }

  void flush() {
    if (entries_.empty()) return;
    auto entered = db_.enter_journeys(j_.name(), entries_, now_);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (!entered[i]) continue;
      r_.messages += entries_[i].messages.size();
      ++r_.entered;
    }
    entries_.clear();
  }

 private:
  store& db_;
  const journey& j_;
  time_point now_;
  journey_result& r_;
  std::string winner_;
  std::vector<journey_entry> entries_;
};

// One occurrence for `c`: its steps that are still ahead (a step whose validity has passed is
// not queued); no messages when nothing is left of it. `winner`: see ab_winner.
journey_entry plan_entry(const journey& j, const contact& c, const std::string& zone,
                         entry_request req, time_point now, const std::string& winner) {
  const auto& cfg = j.campaign();
  if (req.anchor_day)
    req.context["anchor"] = format_day(*req.anchor_day);
  else
    req.context["anchor"] = format_day(local_day(req.moment, zone));
  const std::string context = boost::json::serialize(req.context);
  const bool held_out = in_holdout(cfg.holdout, cfg.name, c.phone);
  journey_entry out{c.id, req.occurrence, {}};
  for (const auto& step : cfg.steps) {
    if (config::follow_up_of(cfg, step.id)) continue;  // queued by a reply
    std::optional<time_point> due = req.anchor_day
                                        ? step_due(step, format_day(*req.anchor_day), zone, now)
                                        : follow_up_due(step.at, req.moment, zone);
    if (!due) continue;
    auto expires = end_of_local_day(*due, zone);
    if (expires <= now) continue;  // already over: never sent late
    new_message m{cfg.name, step.id, std::string(), c.id, *due, expires};
    if (held_out) {
      m.variant = "holdout";
      m.suppressed_reason = "holdout";
    } else if (!winner.empty() &&
               std::any_of(step.variants.begin(), step.variants.end(),
                           [&](const config::variant_config& v) { return v.name == winner; })) {
      m.variant = winner;
    } else {
      m.variant = choose_variant(step, cfg.name, c.phone);
    }
    m.occurrence = req.occurrence;
    m.context = context;
    out.messages.push_back(std::move(m));
  }
  return out;
}

// The recurrences of a date trigger that fall on local day `d` (entered `lead` days ahead).
bool recurs_on(const trigger_config& t, civil_day date, civil_day d) {
  if (t.every == "once") return d == date;
  if (sys_days{d} <= sys_days{date}) return false;  // the date itself is no anniversary
  if (t.every == "year") return anniversary_in(date, d.year()) == d;
  return monthly_in(date, d.year() / d.month()) == d;
}

}  // namespace

std::vector<config::config_issue> trigger_issues(const config::campaign_config& campaign,
                                                 const config::engine_config& engine) {
  std::vector<config::config_issue> issues;
  if (!campaign.trigger) return issues;
  auto tiers = tiers_of(engine);
  const auto& t = *campaign.trigger;
  if (t.type == trigger_config::kind::enters && !t.enters.empty())
    compile_at(t.enters, t.enters_loc, "enters", &tiers, issues);
  if (t.type == trigger_config::kind::event && !t.where.empty())
    compile_at(t.where, t.event_where_loc, "where", nullptr, issues);
  return issues;
}

boost::json::object journey_budget_context(const config::campaign_config& campaign) {
  boost::json::object event;
  if (campaign.trigger && campaign.trigger->type == trigger_config::kind::event) {
    for (const auto& step : campaign.steps) {
      for (const auto& v : step.variants) {
        for (const std::string* text : {&v.text, &v.subject}) {
          try {
            auto t = templates::compiled_template::compile(*text);
            for (const auto& n : t.variable_names())
              if (n.starts_with("event.")) event[n.substr(6)] = "0000000000";
          } catch (const templates::template_error&) {  // validate_campaign reports it
          }
        }
      }
    }
  }
  boost::json::object out;
  if (!event.empty()) out["event"] = std::move(event);
  return out;
}

journey_engine::journey_engine(config::engine_config engine) : engine_(std::move(engine)) {}
journey_engine::~journey_engine() = default;

void journey_engine::refresh(store& db) {
  std::map<std::string, std::shared_ptr<const journey>> next;
  for (const auto& c : db.list_campaigns()) {
    if (c.state != "active" || c.source_text.find("trigger") == std::string::npos) continue;
    if (auto it = journeys_.find(c.name); it != journeys_.end() && versions_[c.name] == c.version) {
      next[c.name] = it->second;
      continue;
    }
    try {
      auto parsed = config::parse_campaign(c.source_text, c.source_path);
      if (!parsed.trigger) continue;
      next[c.name] = std::make_shared<const journey>(std::move(parsed), engine_, c.version);
      versions_[c.name] = c.version;
    } catch (const std::exception& e) {
      spdlog::error("journey {} (version {}) skipped: its stored source does not load: {}", c.name,
                    c.version, e.what());
    }
  }
  journeys_ = std::move(next);
  refreshed_ = true;
}

namespace {

// Places `c` in the journey's rollover index and enters what is open for them now: for a date
// trigger, the recurrence from today to `lead` days ahead in their zone; for `enters`, a start
// of matching. `matching` is the journey's set of contacts that matched last time (enters).
void evaluate_contact(store& db, const journey& j, const contact& c, time_point now,
                      const config::engine_config& engine,
                      const std::vector<std::int64_t>* matching, std::vector<journey_date>& rows,
                      std::vector<std::int64_t>& removed,
                      std::vector<std::pair<std::int64_t, bool>>& flags, entry_batch& batch,
                      journey_result& r) {
  const auto& t = j.trigger();
  if (t.type == trigger_config::kind::event) return;  // events enter, not contacts
  std::string zone(recipient_timezone(c.tz, c.phone, engine.default_timezone));
  if (t.type == trigger_config::kind::date) {
    auto it = c.attributes.find(t.attribute);
    if (it == c.attributes.end() || it->value().is_null()) {
      removed.push_back(c.id);
      return;
    }
    std::optional<civil_day> date;
    if (it->value().is_string()) date = attribute_day(it->value().get_string(), zone);
    if (!date) {
      removed.push_back(c.id);
      ++r.skipped;
      std::string shown = it->value().is_string() ? std::string(it->value().get_string())
                                                  : boost::json::serialize(it->value());
      if (shown.size() > 40) shown = shown.substr(0, 40) + "…";
      db.record_journey_exit(j.name(), c.id, "unreadable " + t.attribute + ": '" + shown + "'",
                             now);
      return;
    }
    rows.push_back({c.id, zone, static_cast<int>(static_cast<unsigned>(date->month())),
                    static_cast<int>(static_cast<unsigned>(date->day())), format_day(*date),
                    std::nullopt});
    ++r.indexed;
    if (!j.audience().matches(c, now)) return;
    auto today = sys_days{local_day(now, zone)};
    for (int k = 0; k <= j.lead(); ++k) {
      civil_day d{today + days(k)};
      if (!recurs_on(t, *date, d)) continue;
      batch.add(plan_entry(j, c, zone, {format_day(d), d, {}, {}}, now, batch.winner()));
    }
    return;
  }
  // enters: re-read by the rollover only once the condition (or the audience) may have changed
  // with time (audience_expr::next_change); an upsert re-reads the contact anyway.
  auto next = j.enters()->next_change(c, now);
  if (auto a = j.audience().next_change(c, now); a && (!next || *a < *next)) next = a;
  rows.push_back({c.id, zone, 0, 0, "", next});
  ++r.indexed;
  bool now_matching = j.audience().matches(c, now) && j.enters()->matches(c, now);
  bool was = matching && std::binary_search(matching->begin(), matching->end(), c.id);
  if (now_matching == was) return;
  flags.emplace_back(c.id, now_matching);
  if (!now_matching) return;
  if (auto last = db.last_journey_entry(j.name(), c.id)) {
    if (t.reentry_after.count() == 0 || *last + t.reentry_after > now) {
      ++r.blocked;
      db.record_journey_exit(j.name(), c.id, "re-entry blocked", now);
      return;
    }
  }
  auto day = local_day(now, zone);
  batch.add(plan_entry(j, c, zone, {"enters:" + format_day(day), std::nullopt, now, {}}, now,
                       batch.winner()));
}

void add(journey_result& to, const journey_result& r) {
  to.indexed += r.indexed;
  to.entered += r.entered;
  to.messages += r.messages;
  to.blocked += r.blocked;
  to.skipped += r.skipped;
}

// Evaluates `contacts` against one journey and writes the index rows and flags.
// `index`: write the contacts' rollover rows (apply, upsert); a rollover only reads them.
journey_result evaluate_all(
    store& db, const journey& j, time_point now, const config::engine_config& engine, bool index,
    const std::function<void(const std::function<void(const contact&)>&)>& each_contact) {
  journey_result r;
  std::vector<std::int64_t> matching;
  const bool enters = j.trigger().type == trigger_config::kind::enters;
  if (enters) matching = db.journey_matching(j.name());
  std::vector<journey_date> rows;
  std::vector<std::int64_t> removed;
  std::vector<std::pair<std::int64_t, bool>> flags;
  entry_batch batch(db, j, now, r);
  auto flush = [&] {
    batch.flush();
    if (index) db.set_journey_dates(j.name(), rows, removed);
    db.set_journey_matching(j.name(), flags);
    rows.clear();
    removed.clear();
    flags.clear();
  };
  each_contact([&](const contact& c) {
    evaluate_contact(db, j, c, now, engine, enters ? &matching : nullptr, rows, removed, flags,
                     batch, r);
    if (rows.size() + removed.size() >= 5000) flush();
  });
  flush();
  return r;
}

}  // namespace

journey_result journey_engine::apply(store& db, const config::campaign_config& campaign,
                                     int version, time_point now) {
  journey j(campaign, engine_, version);
  auto r =
      evaluate_all(db, j, now, engine_, true, [&](const auto& fn) { db.for_each_contact(fn); });
  if (!db.journey_clock(campaign.name)) db.set_journey_clock(campaign.name, now);
  return r;
}

journey_result journey_engine::contacts_changed(store& db, const std::vector<std::int64_t>& ids,
                                                time_point now) {
  journey_result total;
  if (ids.empty()) return total;
  refresh(db);
  for (const auto& entry : journeys_) {
    const auto& j = entry.second;
    if (j->trigger().type == trigger_config::kind::event) continue;
    // Contacts read in chunks: an import of a million rows does not hold them all twice.
    for (std::size_t at = 0; at < ids.size(); at += 2000) {
      std::vector<std::int64_t> chunk(
          ids.begin() + static_cast<long>(at),
          ids.begin() + static_cast<long>(std::min(ids.size(), at + 2000)));
      auto contacts = db.contacts_by_id(chunk);
      add(total, evaluate_all(db, *j, now, engine_, true, [&](const auto& fn) {
            for (const auto& c : contacts) fn(c);
          }));
    }
  }
  return total;
}

journey_result journey_engine::event_recorded(store& db, const contact_event& event,
                                              time_point now) {
  journey_result r;
  if (!refreshed_) refresh(db);
  std::optional<contact> c;
  for (const auto& entry : journeys_) {
    // Named, not a structured binding: lambdas below capture them (clang 14 cannot).
    const auto& name = entry.first;
    const auto& j = entry.second;
    const auto& t = j->trigger();
    if (t.type != trigger_config::kind::event || t.event != event.name) continue;
    if (!c) {
      auto found = db.contacts_by_id({event.contact_id});
      if (found.empty()) return r;
      c = std::move(found.front());
    }
    if (!j->audience().matches(*c, now)) continue;
    if (j->where()) {
      contact props;  // `where` reads the event's properties
      props.attributes = event.properties;
      if (!j->where()->matches(props, now)) continue;
    }
    if (t.reentry_after.count() > 0) {
      if (auto last = db.last_journey_entry(name, c->id); last && *last + t.reentry_after > now) {
        ++r.blocked;
        db.record_journey_exit(name, c->id, "re-entry blocked", now);
        continue;
      }
    }
    std::string zone(recipient_timezone(c->tz, c->phone, engine_.default_timezone));
    boost::json::object context;
    context["event"] = event.properties;
    entry_batch batch(db, *j, now, r);
    batch.add(plan_entry(*j, *c, zone,
                         {"event:" + std::to_string(event.id), std::nullopt, event.at, context},
                         now, batch.winner()));
    batch.flush();
  }
  return r;
}

std::optional<time_point> journey_engine::tick(store& db, time_point now, journey_result* out) {
  refresh(db);
  std::optional<time_point> next;
  for (const auto& entry : journeys_) {
    // Named, not a structured binding: lambdas below capture them (clang 14 cannot).
    const auto& name = entry.first;
    const auto& j = entry.second;
    const auto& t = j->trigger();
    if (t.type == trigger_config::kind::event) continue;
    db.transaction([&] {
      auto through = db.journey_clock(name);
      if (!through) {
        db.set_journey_clock(name, now);
        through = now;
      }
      for (const auto& zone : db.journey_zones(name)) {
        // Local midnight after `now`: when this zone next rolls over.
        auto tomorrow = sys_days{local_day(now, zone)} + days(1);
        auto wake = policy::local_to_utc(
            date::local_time<minutes>(minutes(duration_cast<minutes>(tomorrow.time_since_epoch()))),
            policy::find_zone(zone));
        next = next ? std::min(*next, wake) : wake;
        if (*through >= now) continue;
        auto first = sys_days{local_day(*through, zone)} + days(1);
        auto last = sys_days{local_day(now, zone)};
        if (first > last) continue;
        if (last - first > days(400)) first = last - days(400);  // a year's catch-up at most
        journey_result r;
        const auto started = steady_clock::now();
        if (t.type == trigger_config::kind::enters) {
          // Only the contacts whose condition may have changed since (their next_check).
          journey_query q{name, zone, 0, {}, "", now};
          std::vector<contact> due;
          db.for_each_journey_contact(q, [&](const contact& c) { due.push_back(c); });
          r = evaluate_all(db, *j, now, engine_, true, [&](const auto& fn) {
            for (const auto& c : due) fn(c);
          });
        } else {
          entry_batch batch(db, *j, now, r);
          for (auto day = first; day <= last; day += days(1)) {
            civil_day d{day + days(j->lead())};
            journey_query q{name, zone, 0, {}, "", std::nullopt};
            if (t.every == "once") {
              q.date = format_day(d);
            } else {
              q.month = t.every == "year" ? static_cast<int>(static_cast<unsigned>(d.month())) : 0;
              int dd = static_cast<int>(static_cast<unsigned>(d.day()));
              q.days.push_back(dd);
              // The recurrences clamped onto this day: 29 Feb on 28 Feb of a common year, the
              // 29th-31st on a short month's last day.
              auto last_day = year_month_day_last{d.year(), month_day_last{d.month()}}.day();
              if (d.day() == last_day)
                for (int extra = dd + 1; extra <= 31; ++extra) q.days.push_back(extra);
            }
            std::vector<contact> due;
            db.for_each_journey_contact(q, [&](const contact& c) { due.push_back(c); });
            for (const auto& c : due) {
              std::string z(recipient_timezone(c.tz, c.phone, engine_.default_timezone));
              auto it = c.attributes.find(t.attribute);
              if (it == c.attributes.end() || !it->value().is_string()) continue;
              auto date = attribute_day(it->value().get_string(), z);
              if (!date || !recurs_on(t, *date, d) || !j->audience().matches(c, now)) continue;
              // Entered on the day the rollover reached, even when the engine caught up late.
              batch.add(plan_entry(*j, c, z, {format_day(d), d, {}, {}}, now, batch.winner()));
            }
          }
          batch.flush();
        }
        if (out) add(*out, r);
        if (r.entered + r.blocked > 0 || steady_clock::now() - started > milliseconds(100))
          spdlog::info(
              "journey {}: zone {} rolled over to {}: {} entered, {} re-entries blocked, in {} ms",
              name, zone, format_day(civil_day{last}), r.entered, r.blocked,
              duration_cast<milliseconds>(steady_clock::now() - started).count());
      }
      if (now > *through) db.set_journey_clock(name, now);  // never backwards
    });
  }
  return next;
}

journey_forecast forecast_journey(const config::campaign_config& campaign,
                                  const config::engine_config& engine, store& db, time_point from,
                                  int days_ahead) {
  journey_forecast out;
  for (const auto& step : campaign.steps)
    if (!config::follow_up_of(campaign, step.id)) ++out.steps;
  const auto& t = *campaign.trigger;
  if (t.type != trigger_config::kind::date) {
    out.depends_on_events = true;
    out.entries_per_day_7d =
        static_cast<double>(db.journey_statistics(campaign.name, from).entries_7d) / 7.0;
    return out;
  }
  audience_filter audience(campaign.audience, engine);
  db.for_each_contact([&](const contact& c) {
    auto it = c.attributes.find(t.attribute);
    if (it == c.attributes.end() || it->value().is_null()) return;
    std::string zone(recipient_timezone(c.tz, c.phone, engine.default_timezone));
    std::optional<civil_day> date;
    if (it->value().is_string()) date = attribute_day(it->value().get_string(), zone);
    if (!date) {
      ++out.unreadable;
      return;
    }
    if (!audience.matches(c, from)) return;
    auto first = sys_days{local_day(from, zone)};
    for (int k = 0; k < days_ahead; ++k) {
      civil_day d{first + days(k)};
      if (recurs_on(t, *date, d)) ++out.entries_by_day[format_day(d)];
    }
  });
  return out;
}

boost::json::object journey_json(const journey_stats& j) {
  boost::json::object progress, exits;
  for (const auto& [step, n] : j.in_progress) progress[step] = n;
  for (const auto& [reason, n] : j.exits) exits[reason] = n;
  boost::json::array skipped;
  for (const auto& [phone, reason] : j.skipped)
    skipped.push_back({{"phone", phone}, {"reason", reason}});
  boost::json::object entries_by_day, exits_by_day;
  for (const auto& [day, n] : j.entries_by_day) entries_by_day[day] = n;
  for (const auto& [day, n] : j.exits_by_day) exits_by_day[day] = n;
  return {{"entries_today", j.entries_today},       {"entries_7d", j.entries_7d},
          {"entries_total", j.entries_total},       {"contacts_indexed", j.indexed},
          {"in_progress", std::move(progress)},     {"exits", std::move(exits)},
          {"skipped", std::move(skipped)},          {"entries_by_day", std::move(entries_by_day)},
          {"exits_by_day", std::move(exits_by_day)}};
}

std::string describe_journey(const journey_stats& j, std::string_view indent) {
  std::string out(indent);
  out += "journey: entries " + std::to_string(j.entries_today) + " today, " +
         std::to_string(j.entries_7d) + " in 7 days, " + std::to_string(j.entries_total) +
         " in all; " + std::to_string(j.indexed) + " contacts indexed for the trigger\n";
  out += std::string(indent) + "  in progress:";
  if (j.in_progress.empty()) out += " none";
  for (const auto& [step, n] : j.in_progress) out += " " + step + "=" + std::to_string(n);
  out += "\n" + std::string(indent) + "  exits:";
  if (j.exits.empty()) out += " none";
  for (const auto& [reason, n] : j.exits) out += " " + reason + "=" + std::to_string(n);
  out += "\n";
  for (const auto& [phone, reason] : j.skipped)
    out += std::string(indent) + "  skipped " + phone + ": " + reason + "\n";
  return out;
}

}  // namespace pigeon::engine::campaign
