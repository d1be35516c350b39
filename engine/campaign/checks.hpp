#pragma once
// The checks `campaign validate` runs beside validate_campaign (engine/campaign/apply.hpp) that
// look at the stored contacts or only warn: names the campaign reads that no contact has (typos),
// steps timed outside their own window, an audience nobody is in. Each returns config issues with a
// severity (config::severity), so validate prints errors and warnings in one list.
//
// Ownership: values only. Threading: one thread. Failure: problems are issues, never thrown.
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "config/source_location.hpp"
#include "engine/model/model.hpp"

namespace pigeon::engine::campaign {

// The attribute names present on the stored contacts, gathered in the pass validate makes over
// them anyway (the length budget).
struct attribute_catalog {
  std::size_t contacts = 0;
  std::set<std::string, std::less<>> names;

  void add(const contact& c);
  // Whether a name read by an audience expression can have a value: an attribute some contact
  // has, or `<x>_days` derived from a stored `<x>_at`.
  bool knows_expression_name(std::string_view name) const;
  // Whether a template variable can have a value: `phone`, an attribute, `contact.<attribute>`.
  bool knows_template_name(std::string_view name) const;
};

// Every name the campaign reads (audience `where` entries, the tier expressions they reach with
// `tier = X`, template variables used without a default) that `catalog` does not know: an error
// each, with its file:line:col and a "did you mean" when a known name is close. With no stored
// contacts nothing can be known: one warning says the names were not checked.
std::vector<config::config_issue> attribute_name_issues(const config::campaign_config& campaign,
                                                        const config::engine_config& engine,
                                                        const attribute_catalog& catalog);

// Warnings for steps whose own local time (or weekday) falls outside the window that applies to
// them (the step's, else the campaign's): their messages wait for the window, or expire.
std::vector<config::config_issue> window_warnings(const config::campaign_config& campaign);

// A warning when stored contacts exist and none is in the audience (apply would queue nothing).
std::vector<config::config_issue> empty_audience_warnings(const config::campaign_config& campaign,
                                                          std::size_t contacts,
                                                          std::size_t audience);

// The candidate closest to `name` by edit distance, when close enough to be a likely typo (at
// most a quarter of the name's length, and at least 1, edits); else empty.
std::string closest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace pigeon::engine::campaign
