#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/source_location.hpp"

namespace pigeon::config {

struct window_config {
  std::vector<std::string> days;  // mon..sun; empty = every day
  std::string between;            // "10:30-11:00", may cross midnight; empty = all day
  source_location where;
};

// One wording of a step. A step without `variants` has exactly one, named "A", weight 100.
struct variant_config {
  std::string name;
  int weight = 100;
  std::string text;                // the template text
  std::string subject;             // MMS only
  std::vector<std::string> media;  // MMS only: local paths or URLs
  source_location where;           // of the text, for template errors
};

struct step_config {
  std::string id;
  std::string at;  // "-7d 10:30", "0d 15:00", an absolute ISO time, "now", "+2h" (follow-up)
  source_location at_where;
  std::string kind;  // "sms" | "mms"
  std::optional<window_config> window;
  std::vector<variant_config> variants;
  source_location where;
};

struct keyword_config {
  std::string keyword;
  std::string tag;
  std::string action;  // "" | frequency | nps | follow_up
  std::string respond;
  std::string step;  // follow_up: the step enqueued for the contact who replied
  int max = 0;       // frequency: the recipient's own cap, `max` messages per `per`
  std::string per;   // a duration (7d); empty with max 0 = the reply only asks (nothing stored)
  source_location where;
  source_location respond_where;  // of the `respond:` value
};

struct audience_config {
  std::vector<std::string> all_tags;
  std::vector<std::string> any_tags;
  std::vector<std::string> none_tags;
  std::vector<std::string> where;                // expressions, e.g. "last_purchase_days <= 180"
  std::vector<source_location> where_locations;  // parallel to `where`
  source_location location;
};

struct ab_test_config {
  std::string metric;
  std::string decide_after;
  std::string then;
  long min_per_variant = 100;  // sends each variant needs before the test may decide
  int sample_percent = 100;    // `sample: 20%`: the share that gets the variants first
  source_location where;
  source_location min_where, sample_where;  // of min_per_variant and sample, when given
};

// `caps: { max: 1, per: 7d }`: at most `max` of this campaign's messages per recipient in any
// window of `per` (on top of the engine's frequency rules).
struct campaign_cap_config {
  int max = 0;
  std::chrono::seconds per{0};
  source_location where;
};

// `trigger:` (a lifecycle journey, instead of `anchor:`): each recipient gets an anchor of their
// own, the moment their trigger fired, in their zone (DESIGN "Lifecycle journeys").
//   {date: ATTR_at, every: once|year|month}   the date (its anniversary, its monthly day)
//   {enters: EXPR, reentry: DURATION}          the moment the contact starts matching EXPR
//   {event: NAME, where: EXPR, reentry: ...}   an integrator event (POST /v1/events)
struct trigger_config {
  enum class kind { date, enters, event };
  kind type = kind::date;
  std::string attribute;       // date: the `_at` attribute
  std::string every = "once";  // date: once | year | month
  std::string enters;          // enters: a segment expression over the contact
  std::string event;           // event: its name
  std::string where;           // event: a segment expression over the event's properties
  std::string reentry;         // enters/event: least time before the same recipient re-enters
  std::chrono::seconds reentry_after{0};  // parsed `reentry`; 0 with reentry empty: never
  source_location where_loc, attribute_loc, enters_loc, event_where_loc, reentry_loc;
};

struct campaign_config {
  std::string path;  // the file it was loaded from
  std::string name;  // `campaign:`
  std::string sender;
  source_location sender_where;        // of the `sender:` value, for check_campaign_against
  std::string category = "marketing";  // marketing | transactional
  int priority = 0;
  std::string anchor;  // ISO date (YYYY-MM-DD); empty when every step is absolute or "now"
  std::optional<trigger_config> trigger;  // a journey: anchors per recipient (no `anchor`)
  std::vector<std::string> stop_on;
  audience_config audience;
  std::optional<window_config> window;
  std::vector<step_config> steps;
  std::string replies_valid_for;  // e.g. "7d"
  std::vector<keyword_config> keywords;
  std::optional<ab_test_config> ab_test;
  std::optional<campaign_cap_config> caps;
  std::string on_cap = "defer";  // defer | drop: what a message over a cap does
  int holdout = 0;          // percent of the audience held out of every step (A/B control group)
  std::string source_text;  // the file's text, stored with each version
  source_location where;
};

// Loads and checks a campaign file. Throws config_error listing every issue with file:line:col:
// unknown keys, wrong types, missing keys, bad `at`/`anchor`/`window` syntax, variant weights,
// duplicate step ids. Cross-checks against the engine config (the sender exists) happen in
// validate_campaign.
campaign_config load_campaign(const std::string& path);
campaign_config parse_campaign(const std::string& yaml_text, const std::string& name);

// The same checks without throwing: the campaign as far as it could be read (a key that had an
// issue keeps its default) and every issue found, so a caller can run the checks that need the
// engine config too and report everything in one pass. A file that cannot be read still throws.
struct campaign_load {
  campaign_config campaign;
  std::vector<config_issue> issues;
};
campaign_load collect_campaign(const std::string& path);

// The keyword whose `action: follow_up` names this step, or nullptr. Such a step is follow-up
// only: apply queues it for nobody; a reply with that keyword queues it for its sender, its `at`
// counted from the reply (engine::campaign::follow_up_due).
const keyword_config* follow_up_of(const campaign_config& campaign, std::string_view step_id);

// Checks what needs the engine config: the sender is defined, each `respond` text fits the
// sender's limit (config/reply_texts.hpp). Returns the issues found.
std::vector<config_issue> check_campaign_against(const campaign_config& campaign,
                                                 const struct engine_config& engine);

}  // namespace pigeon::config
