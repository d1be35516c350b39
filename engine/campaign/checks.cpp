#include "engine/campaign/checks.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "config/values.hpp"
#include "engine/campaign/apply.hpp"
#include "engine/campaign/audience.hpp"
#include "engine/policy/send_window.hpp"
#include "templates/template.hpp"

namespace pigeon::engine::campaign {
namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours (`frist` -> `first`) cost 1 each.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// A place inside a YAML scalar: the scalar's location moved to `line`/`column` (1-based) of its
// text. On the scalar's first line the column is offset (+1 covers a usual opening quote).
config::source_location inside(const config::source_location& scalar, int line, int column) {
  config::source_location loc = scalar;
  if (loc.line <= 0) return loc;
  if (line <= 1) {
    loc.column = scalar.column + column;
  } else {
    loc.line = scalar.line + line - 1;
    loc.column = column;
  }
  return loc;
}

// Line and column (1-based, code points) of byte `offset` in `text`.
std::pair<int, int> line_column(std::string_view text, std::size_t offset) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return {line, column};
}

// The names an audience expression may read: the contact's fields, attributes, and `<x>_days`
// for each `<x>_at`.
std::vector<std::string> expression_candidates(const attribute_catalog& catalog) {
  std::vector<std::string> out{"phone", "tz", "tags", "tier"};
  out.insert(out.end(), catalog.names.begin(), catalog.names.end());
  for (const auto& n : catalog.names)
    if (n.ends_with("_at"))
      for (const char* unit : {"_days", "_months", "_years"})
        out.push_back(n.substr(0, n.size() - 3) + unit);
  return out;
}

std::string stored_contacts(std::size_t n) {
  return n == 1 ? std::string("the 1 stored contact")
                : "the " + std::to_string(n) + " stored contacts";
}

std::string unknown_message(std::string_view name, const attribute_catalog& catalog,
                            const std::vector<std::string>& candidates) {
  std::string msg = "`" + std::string(name) + "` is not an attribute of " +
                    (catalog.contacts == 1 ? "" : "any of ") + stored_contacts(catalog.contacts) +
                    ", nor derived from one";
  if (auto near = closest_name(name, candidates); !near.empty())
    return msg + "; did you mean " + near + "?";
  return msg + " (a typo, or contacts not imported yet?)";
}

struct name_check {
  const attribute_catalog& catalog;
  std::vector<config::config_issue>& issues;
  std::vector<std::string> unchecked;  // names seen while no contact is stored

  // Records an issue when the name is unknown (or, with no contacts, notes it as unchecked).
  void use(std::string_view name, bool expression, const config::source_location& where,
           const std::string& context) {
    if (catalog.contacts == 0) {
      if (std::find(unchecked.begin(), unchecked.end(), name) == unchecked.end())
        unchecked.emplace_back(name);
      return;
    }
    bool known =
        expression ? catalog.knows_expression_name(name) : catalog.knows_template_name(name);
    if (known) return;
    std::vector<std::string> candidates{"phone"};
    if (expression)
      candidates = expression_candidates(catalog);
    else
      candidates.insert(candidates.end(), catalog.names.begin(), catalog.names.end());
    issues.push_back({where, context + unknown_message(name, catalog, candidates)});
  }
};

void check_where(const config::campaign_config& campaign, const config::engine_config& engine,
                 name_check& check) {
  audience_expr::tier_map tiers;
  for (const auto& [name, text] : engine.policy.tiers) {
    try {
      tiers.emplace(name, audience_expr::compile(text));
    } catch (const audience_expr_error&) {
      // validate_campaign reports it
    }
  }
  const auto& audience = campaign.audience;
  for (std::size_t i = 0; i < audience.where.size(); ++i) {
    std::optional<audience_expr> expr;
    try {
      expr = audience_expr::compile(audience.where[i], &tiers);
    } catch (const audience_expr_error&) {
      continue;  // validate_campaign reports it
    }
    auto loc =
        i < audience.where_locations.size() ? audience.where_locations[i] : audience.location;
    for (const auto& use : expr->names()) {
      std::string context = "audience.where: `" + audience.where[i] + "`: ";
      if (!use.tier.empty())
        context +=
            "in tier `" + use.tier + "` (policy.tiers." + use.tier + ", " + engine.path + "): ";
      check.use(use.name, true, inside(loc, 1, use.column), context);
    }
  }
}

void check_templates(const config::campaign_config& campaign, name_check& check) {
  for (const auto& step : campaign.steps) {
    for (const auto& variant : step.variants) {
      std::string context = "step `" + step.id + "` variant " + variant.name + ": ";
      for (const std::string* text : {&variant.text, &variant.subject}) {
        templates::compiled_template t;
        try {
          t = templates::compiled_template::compile(*text);
        } catch (const templates::template_error&) {
          continue;  // validate_campaign reports it
        }
        std::vector<std::size_t> seen;
        for (const auto& tag : t.tags()) {
          if (tag.fallback || std::find(seen.begin(), seen.end(), tag.name_index) != seen.end())
            continue;
          seen.push_back(tag.name_index);
          auto where = variant.where;
          if (text == &variant.text) {
            auto [line, column] = line_column(*text, tag.offset);
            where = inside(variant.where, line, column);
          }
          check.use(t.variable_names()[tag.name_index], false, where, context);
        }
      }
    }
  }
}

}  // namespace

void attribute_catalog::add(const contact& c) {
  ++contacts;
  for (const auto& kv : c.attributes) {
    auto key = kv.key();
    if (names.find(key) == names.end()) names.emplace(key);
  }
}

namespace {
// `<x>_days`, `<x>_months`, `<x>_years` of a known `<x>_at`.
bool derived_from_known(const std::set<std::string, std::less<>>& names, std::string_view name) {
  for (std::string_view unit : {"_days", "_months", "_years"})
    if (name.ends_with(unit))
      return names.contains(std::string(name.substr(0, name.size() - unit.size())) + "_at");
  return false;
}
}  // namespace

bool attribute_catalog::knows_expression_name(std::string_view name) const {
  return names.contains(name) || derived_from_known(names, name);
}

bool attribute_catalog::knows_template_name(std::string_view name) const {
  if (name == "phone" || name.starts_with("event.")) return true;
  if (name.starts_with("contact.")) name.remove_prefix(8);
  return names.contains(name) || derived_from_known(names, name);
}

std::string closest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::size_t limit = std::max<std::size_t>(1, name.size() / 4);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    auto d = edit_distance(name, c);
    if (d > 0 && d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::vector<config::config_issue> attribute_name_issues(const config::campaign_config& campaign,
                                                        const config::engine_config& engine,
                                                        const attribute_catalog& catalog) {
  std::vector<config::config_issue> issues;
  name_check check{catalog, issues, {}};
  check_where(campaign, engine, check);
  // A journey's trigger reads contact attributes too (an event's `where` reads its properties).
  if (campaign.trigger && campaign.trigger->type == config::trigger_config::kind::date &&
      !campaign.trigger->attribute.empty())
    check.use(campaign.trigger->attribute, true, campaign.trigger->attribute_loc, "trigger.date: ");
  if (campaign.trigger && campaign.trigger->type == config::trigger_config::kind::enters) {
    try {
      auto expr = audience_expr::compile(campaign.trigger->enters);
      for (const auto& use : expr.names())
        check.use(use.name, true, inside(campaign.trigger->enters_loc, 1, use.column),
                  "trigger.enters: `" + campaign.trigger->enters + "`: ");
    } catch (const audience_expr_error&) {  // trigger_issues reports it
    }
  }
  check_templates(campaign, check);
  if (!check.unchecked.empty()) {
    std::string names;
    for (const auto& n : check.unchecked) names += (names.empty() ? "`" : ", `") + n + "`";
    issues.push_back({campaign.where,
                      "attribute names not checked: no contacts are stored yet, so a typo in " +
                          names +
                          " cannot be told from an attribute to come (import contacts "
                          "and validate again)",
                      config::severity::warning});
  }
  return issues;
}

std::vector<config::config_issue> window_warnings(const config::campaign_config& campaign) {
  std::vector<config::config_issue> issues;
  for (std::size_t i = 0; i < campaign.steps.size(); ++i) {
    const auto& step = campaign.steps[i];
    const auto& w = step.window ? step.window : campaign.window;
    auto at = config::parse_step_at(step.at);
    // `now`, and an absolute time with a zone, have no local time of their own.
    if (!w || !at || at->kind == config::step_time_kind::now || at->utc_offset) continue;
    auto window = policy::parse_window(w->days, w->between);
    if (!window) continue;
    // The step's wall-clock time, computed as if local time were UTC.
    auto local = step_due(step, campaign.anchor, "UTC", time_point{});
    if (!local) continue;
    auto decision = policy::check_window(*local, "UTC", window, std::nullopt);
    if (decision.open) continue;
    std::string range = w->between.empty() ? "all day" : w->between;
    std::string days;
    for (const auto& d : w->days) days += (days.empty() ? " on " : ",") + d;
    issues.push_back(
        {step.at_where,
         "steps[" + std::to_string(i) + "].at: '" + step.at + "' is outside its window (" + range +
             days + ", " + (step.window ? "the step's" : "the campaign's") + " window at " +
             w->where.to_string() +
             "): its messages wait for the window to open, and expire if it does not open that "
             "day",
         config::severity::warning});
  }
  return issues;
}

std::vector<config::config_issue> empty_audience_warnings(const config::campaign_config& campaign,
                                                          std::size_t contacts,
                                                          std::size_t audience) {
  if (contacts == 0 || audience > 0) return {};
  auto where = campaign.audience.location.line > 0 ? campaign.audience.location : campaign.where;
  return {{where,
           "the audience is empty: " + std::string(contacts == 1 ? "" : "none of ") +
               stored_contacts(contacts) + (contacts == 1 ? " is not in it" : " is in it") +
               ", so apply would queue nothing",
           config::severity::warning}};
}

}  // namespace pigeon::engine::campaign
