#include "config/campaign.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>

#include "config/engine_config.hpp"
#include "config/reply_texts.hpp"
#include "config/values.hpp"
#include "config/yaml_reader.hpp"

namespace pigeon::config {

namespace {

using detail::join_path;
using detail::yaml_reader;

constexpr std::array<std::string_view, 7> week_days{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};

std::string indexed(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// `opt_out`, `reply:X` or `event:NAME`.
bool valid_trigger(const std::string& text) {
  if (text == "opt_out") return true;
  for (std::string_view prefix : {"reply:", "event:"}) {
    if (text.starts_with(prefix) && text.size() > prefix.size()) return true;
  }
  return false;
}

void read_duration(yaml_reader& reader, const YAML::Node& map, const std::string& path,
                   const char* key, std::string& out) {
  if (reader.read(map, path, key, out) && !parse_duration(out)) {
    reader.issue(map[key], join_path(path, key) +
                               ": expected a duration like 7d, 12h or 30m, got '" + out + "'");
  }
}

std::optional<window_config> read_window(yaml_reader& reader, const YAML::Node& node,
                                         const std::string& path) {
  window_config window;
  window.where = reader.location(node);
  if (!reader.expect_map(node, path)) return std::nullopt;
  reader.check_keys(node, path, {"days", "between"});
  if (reader.read(node, path, "days", window.days)) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < window.days.size(); ++i) {
      const std::string& day = window.days[i];
      if (std::find(week_days.begin(), week_days.end(), day) == week_days.end()) {
        reader.issue(node["days"][i], path +
                                          ".days: expected one of mon, tue, wed, thu, fri, "
                                          "sat, sun, got '" +
                                          day + "'");
      } else if (!seen.insert(day).second) {
        reader.issue(node["days"][i], path + ".days: '" + day + "' is listed twice");
      }
    }
  }
  if (reader.read(node, path, "between", window.between) && !parse_clock_range(window.between)) {
    reader.issue(node["between"],
                 path + ".between: expected HH:MM-HH:MM, got '" + window.between + "'");
  }
  return window;
}

// The parts of a message shared by a step's single wording and by each variant.
void read_wording(yaml_reader& reader, const YAML::Node& node, const std::string& path,
                  const std::string& kind, variant_config& variant, bool with_text = true) {
  variant.where = reader.location(node);
  if (const YAML::Node text = node["text"]; with_text && text.IsDefined()) {
    variant.where = reader.location(text);
    reader.read(node, path, "text", variant.text);
  }
  if (kind == "mms") {
    reader.read(node, path, "subject", variant.subject);
    reader.read(node, path, "media", variant.media);
  }
}

void check_wording(yaml_reader& reader, const YAML::Node& node, const std::string& path,
                   const std::string& kind, const variant_config& variant) {
  if (kind == "sms" && !node["text"].IsDefined()) {
    reader.require(node, path, "text");
  } else if (kind == "mms" && !node["text"].IsDefined() && variant.media.empty()) {
    reader.issue(node, path + ": an MMS needs 'text' or 'media'");
  }
}

void read_message(yaml_reader& reader, const YAML::Node& node, const std::string& path,
                  const std::string& kind, step_config& step) {
  if (!reader.expect_map(node, path)) return;
  if (kind == "sms") {
    reader.check_keys(node, path, {"text", "variants"});
  } else {
    reader.check_keys(node, path, {"subject", "text", "media", "variants"});
  }
  const YAML::Node variants = node["variants"];
  if (!variants.IsDefined()) {
    variant_config variant;
    variant.name = "A";
    read_wording(reader, node, path, kind, variant);
    check_wording(reader, node, path, kind, variant);
    step.variants.push_back(std::move(variant));
    return;
  }
  if (node["text"].IsDefined()) {
    reader.issue(node["text"], path + ": give 'text' in each variant, not next to 'variants'");
  }
  // An MMS subject and media next to `variants` are shared by variants that do not set them.
  variant_config shared;
  if (kind == "mms") read_wording(reader, node, path, kind, shared, false);
  const std::string variants_path = path + ".variants";
  if (!reader.expect_map(variants, variants_path)) return;
  if (variants.size() == 0) reader.issue(variants, variants_path + ": expected one or more");
  reader.check_duplicate_keys(variants, variants_path);
  int total_weight = 0;
  for (const auto& entry : variants) {
    if (!entry.first.IsScalar()) continue;
    const std::string variant_path = join_path(variants_path, entry.first.Scalar());
    variant_config variant = shared;
    variant.name = entry.first.Scalar();
    if (!reader.expect_map(entry.second, variant_path)) continue;
    if (kind == "sms") {
      reader.check_keys(entry.second, variant_path, {"weight", "text"});
    } else {
      reader.check_keys(entry.second, variant_path, {"weight", "subject", "text", "media"});
    }
    if (reader.read(entry.second, variant_path, "weight", variant.weight) && variant.weight < 0) {
      reader.issue(entry.second["weight"], variant_path + ".weight: expected zero or more, got " +
                                               std::to_string(variant.weight));
      variant.weight = 0;
    }
    total_weight += variant.weight;
    read_wording(reader, entry.second, variant_path, kind, variant);
    check_wording(reader, entry.second, variant_path, kind, variant);
    step.variants.push_back(std::move(variant));
  }
  if (variants.size() > 0 && total_weight <= 0) {
    reader.issue(variants, variants_path + ": at least one variant needs a positive weight");
  }
}

void read_step(yaml_reader& reader, const YAML::Node& node, const std::string& path,
               step_config& step) {
  step.where = reader.location(node);
  if (!reader.expect_map(node, path)) return;
  reader.check_keys(node, path, {"id", "at", "window", "sms", "mms"});
  if (reader.require(node, path, "id") && reader.read(node, path, "id", step.id) &&
      step.id.empty()) {
    reader.issue(node["id"], path + ".id: expected a name, got an empty string");
  }
  if (reader.require(node, path, "at")) {
    step.at_where = reader.location(node["at"]);
    if (reader.read(node, path, "at", step.at)) {
      if (!parse_step_at(step.at)) {
        reader.issue(node["at"], path +
                                     ".at: expected \"now\", an offset from the anchor like "
                                     "\"-7d 10:30\", or a time like 2026-11-11T10:30:00+08:00, "
                                     "got '" +
                                     step.at + "'");
      }
    }
  }
  if (const YAML::Node window = node["window"]; window.IsDefined()) {
    step.window = read_window(reader, window, path + ".window");
  }
  const bool sms = node["sms"].IsDefined();
  const bool mms = node["mms"].IsDefined();
  if (sms && mms) {
    reader.issue(node["mms"], path + ": expected exactly one of 'sms' or 'mms', got both");
  } else if (!sms && !mms) {
    reader.issue(node, "missing required key 'sms' or 'mms' in " + path);
  } else {
    step.kind = sms ? "sms" : "mms";
    read_message(reader, node[step.kind], path + "." + step.kind, step.kind, step);
  }
}

void read_steps(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign) {
  if (!reader.expect_list(node, "steps")) return;
  if (node.size() == 0) reader.issue(node, "steps: expected at least one step");
  std::map<std::string, source_location> ids;
  for (std::size_t i = 0; i < node.size(); ++i) {
    step_config step;
    const std::string path = indexed("steps", i);
    read_step(reader, node[i], path, step);
    if (!step.id.empty()) {
      auto [it, inserted] = ids.emplace(step.id, reader.location(node[i]["id"]));
      if (!inserted) {
        reader.issue(node[i]["id"], path + ".id: duplicate step id '" + step.id + "' (first at " +
                                        it->second.to_string() + ")");
      }
    }
    campaign.steps.push_back(std::move(step));
  }
}

// Once the keywords are read: a follow-up step's `at` counts from the reply ("now", "0d", "+2h",
// "+1d 10:00"); any other step's relative `at` counts from the anchor, and a delay is a mistake.
void check_step_times(yaml_reader& reader, const campaign_config& campaign) {
  std::optional<std::size_t> first_relative;
  for (std::size_t i = 0; i < campaign.steps.size(); ++i) {
    const step_config& step = campaign.steps[i];
    auto at = parse_step_at(step.at);
    if (!at) continue;  // reported by read_step
    const std::string path = indexed("steps", i) + ".at: '" + step.at + "'";
    if (const auto* k = follow_up_of(campaign, step.id)) {
      if (at->kind == step_time_kind::absolute ||
          (at->kind == step_time_kind::relative && at->day_offset < 0)) {
        reader.issue(step.at_where, path + " cannot count from a reply, and step '" + step.id +
                                        "' is a follow-up (replies.keywords." + k->keyword +
                                        "): use \"now\", a delay like \"+2h\" or a day and "
                                        "time like \"+1d 10:00\"");
      }
    } else if (at->kind == step_time_kind::after) {
      reader.issue(step.at_where, path +
                                      " is a delay after a reply: only a step named by a "
                                      "keyword's follow_up can use it; use an offset from the "
                                      "anchor like \"0d 15:00\", a time, or \"now\"");
    } else if (at->kind == step_time_kind::relative && !first_relative) {
      first_relative = i;
    }
  }
  // Replies are attributed to a campaign that sent the phone a message: with every step a
  // follow-up, nothing is ever sent and no reply ever queues one.
  if (!campaign.steps.empty() &&
      std::all_of(campaign.steps.begin(), campaign.steps.end(),
                  [&](const step_config& s) { return follow_up_of(campaign, s.id) != nullptr; })) {
    reader.issue(campaign.steps.front().where,
                 "steps: every step is a follow-up, so nothing is ever sent and no reply can "
                 "queue one; give the first message its own step");
  }
  if (campaign.trigger) {
    // A journey's steps count from each recipient's own anchor.
    for (std::size_t i = 0; i < campaign.steps.size(); ++i) {
      const step_config& step = campaign.steps[i];
      auto at = parse_step_at(step.at);
      if (!at || follow_up_of(campaign, step.id)) continue;
      if (at->kind == step_time_kind::absolute || at->kind == step_time_kind::now)
        reader.issue(step.at_where,
                     indexed("steps", i) + ".at: '" + step.at +
                         "': a journey's steps count from each recipient's trigger; use an "
                         "offset like \"0d 10:00\", \"+3d 10:30\" or \"+0d\"");
    }
    if (!campaign.anchor.empty())
      reader.issue(campaign.trigger->where_loc,
                   "trigger: a campaign has either an `anchor` date or a `trigger`, not both");
    return;
  }
  if (first_relative && campaign.anchor.empty()) {
    const step_config& step = campaign.steps[*first_relative];
    reader.issue(step.at_where, indexed("steps", *first_relative) + ".at: '" + step.at +
                                    "' is relative, so the campaign needs an 'anchor' date");
  }
}

void read_trigger(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign) {
  trigger_config t;
  t.where_loc = reader.location(node);
  if (!reader.expect_map(node, "trigger")) return;
  reader.check_keys(node, "trigger", {"date", "every", "enters", "reentry", "event", "where"});
  int kinds = 0;
  for (const char* key : {"date", "enters", "event"}) kinds += node[key].IsDefined() ? 1 : 0;
  if (kinds != 1) {
    reader.issue(node, kinds == 0 ? "trigger: expected one of `date: ATTR_at`, `enters: EXPR` or "
                                    "`event: NAME`"
                                  : "trigger: give only one of `date`, `enters` and `event`");
    return;
  }
  if (node["date"].IsDefined()) {
    t.type = trigger_config::kind::date;
    t.attribute_loc = reader.location(node["date"]);
    if (reader.read(node, "trigger", "date", t.attribute) && !t.attribute.ends_with("_at"))
      reader.issue(node["date"], "trigger.date: '" + t.attribute +
                                     "' is not a date attribute: name a contact attribute "
                                     "ending in _at (e.g. member_since_at)");
    if (reader.read(node, "trigger", "every", t.every) && t.every != "once" && t.every != "year" &&
        t.every != "month")
      reader.issue(node["every"],
                   "trigger.every: expected once, year or month, got '" + t.every + "'");
    for (const char* key : {"reentry", "where"})
      if (node[key].IsDefined())
        reader.issue(node[key], std::string("trigger.") + key +
                                    ": a date trigger fires once per date (`every` says how "
                                    "often); `" +
                                    key + "` belongs to `enters`/`event` triggers");
  } else if (node["enters"].IsDefined()) {
    t.type = trigger_config::kind::enters;
    t.enters_loc = reader.location(node["enters"]);
    if (reader.read(node, "trigger", "enters", t.enters) && t.enters.empty())
      reader.issue(node["enters"],
                   "trigger.enters: expected a condition like "
                   "\"last_purchase_days >= 90\"");
    for (const char* key : {"every", "where"})
      if (node[key].IsDefined())
        reader.issue(node[key], std::string("trigger.") + key +
                                    ": not for an `enters` trigger (it fires when a contact "
                                    "starts matching; `reentry` says how soon again)");
  } else {
    t.type = trigger_config::kind::event;
    if (reader.read(node, "trigger", "event", t.event) && t.event.empty())
      reader.issue(node["event"], "trigger.event: expected an event name");
    if (node["where"].IsDefined()) {
      t.event_where_loc = reader.location(node["where"]);
      reader.read(node, "trigger", "where", t.where);
    }
    if (node["every"].IsDefined())
      reader.issue(node["every"],
                   "trigger.every: not for an `event` trigger (each event is its "
                   "own occurrence; `reentry` says how soon again)");
  }
  if (node["reentry"].IsDefined() && t.type != trigger_config::kind::date) {
    t.reentry_loc = reader.location(node["reentry"]);
    if (reader.read(node, "trigger", "reentry", t.reentry)) {
      auto d = parse_duration(t.reentry);
      if (!d || d->count() <= 0)
        reader.issue(
            node["reentry"],
            "trigger.reentry: expected a duration like 180d or 12h, got '" + t.reentry + "'");
      else
        t.reentry_after = *d;
    }
  }
  campaign.trigger = std::move(t);
}

void read_audience(yaml_reader& reader, const YAML::Node& node, audience_config& audience) {
  audience.location = reader.location(node);
  if (!reader.expect_map(node, "audience")) return;
  reader.check_keys(node, "audience", {"all_tags", "any_tags", "none_tags", "where"});
  reader.read(node, "audience", "all_tags", audience.all_tags);
  reader.read(node, "audience", "any_tags", audience.any_tags);
  reader.read(node, "audience", "none_tags", audience.none_tags);
  const YAML::Node where = node["where"];
  if (!where.IsDefined() || !reader.expect_list(where, "audience.where")) return;
  // Expressions are parsed later, by the audience filter; keep each with its place.
  for (std::size_t i = 0; i < where.size(); ++i) {
    if (auto text = reader.text(where[i], indexed("audience.where", i))) {
      audience.where.push_back(*text);
      audience.where_locations.push_back(reader.location(where[i]));
    }
  }
}

void read_replies(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign) {
  if (!reader.expect_map(node, "replies")) return;
  reader.check_keys(node, "replies", {"valid_for", "keywords"});
  read_duration(reader, node, "replies", "valid_for", campaign.replies_valid_for);
  const YAML::Node keywords = node["keywords"];
  if (!keywords.IsDefined() || !reader.expect_map(keywords, "replies.keywords")) return;
  reader.check_duplicate_keys(keywords, "replies.keywords");
  for (const auto& entry : keywords) {
    if (!entry.first.IsScalar()) continue;
    keyword_config keyword;
    keyword.keyword = entry.first.Scalar();
    keyword.where = reader.location(entry.first);
    const std::string path = "replies.keywords." + keyword.keyword;
    if (keyword.keyword.empty()) reader.issue(entry.first, path + ": the keyword is empty");
    if (!reader.expect_map(entry.second, path)) continue;
    reader.check_keys(entry.second, path, {"tag", "respond", "action", "step", "max", "per"});
    reader.read(entry.second, path, "tag", keyword.tag);
    if (reader.read(entry.second, path, "respond", keyword.respond))
      keyword.respond_where = reader.location(entry.second["respond"]);
    if (reader.read(entry.second, path, "action", keyword.action) &&
        keyword.action != "frequency" && keyword.action != "nps" && keyword.action != "follow_up") {
      reader.issue(entry.second["action"], path + ".action: expected frequency, nps or " +
                                               "follow_up, got '" + keyword.action + "'");
    }
    if (reader.read(entry.second, path, "step", keyword.step) && keyword.action != "follow_up")
      reader.issue(entry.second["step"], path + ".step: only with action: follow_up");
    if (keyword.action == "follow_up" && keyword.step.empty())
      reader.issue(entry.second, path + ": action follow_up needs `step:` (a step id)");
    bool has_max = reader.read(entry.second, path, "max", keyword.max);
    read_duration(reader, entry.second, path, "per", keyword.per);
    if ((has_max || !keyword.per.empty()) && keyword.action != "frequency")
      reader.issue(entry.second, path + ": max and per go with action: frequency");
    if (has_max != !keyword.per.empty())
      reader.issue(entry.second, path + ": max and per go together");
    if (has_max && keyword.max < 1)
      reader.issue(entry.second["max"], path + ".max: expected a positive number");
    if (entry.second.size() == 0) {
      reader.issue(entry.second, path + ": expected at least one of tag, respond, action");
    }
    campaign.keywords.push_back(std::move(keyword));
  }
}

void read_ab_test(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign) {
  ab_test_config test;
  test.where = reader.location(node);
  if (!reader.expect_map(node, "ab_test")) return;
  reader.check_keys(node, "ab_test",
                    {"metric", "decide_after", "then", "min_per_variant", "sample"});
  if (reader.require(node, "ab_test", "metric") &&
      reader.read(node, "ab_test", "metric", test.metric)) {
    if (test.metric != "delivered" && (test.metric == "opt_out" || !valid_trigger(test.metric))) {
      reader.issue(
          node["metric"],
          "ab_test.metric: expected delivered, reply:X or event:NAME, got '" + test.metric + "'");
    } else if (test.metric.starts_with("reply:") && !campaign.keywords.empty()) {
      // With a replies section, the keyword must be one of it (a typo would never convert).
      std::string keyword = test.metric.substr(6);
      bool known = std::any_of(
          campaign.keywords.begin(), campaign.keywords.end(), [&](const keyword_config& k) {
            return std::equal(k.keyword.begin(), k.keyword.end(), keyword.begin(), keyword.end(),
                              [](unsigned char a, unsigned char b) {
                                return std::toupper(a) == std::toupper(b);
                              });
          });
      if (!known)
        reader.issue(node["metric"], "ab_test.metric: reply keyword '" + keyword +
                                         "' is not one of replies.keywords");
    }
  }
  if (reader.require(node, "ab_test", "decide_after")) {
    read_duration(reader, node, "ab_test", "decide_after", test.decide_after);
  }
  test.then = "winner";
  if (reader.read(node, "ab_test", "then", test.then) && test.then != "winner") {
    reader.issue(node["then"], "ab_test.then: expected winner, got '" + test.then + "'");
  }
  test.min_where = test.sample_where = test.where;
  if (node["min_per_variant"].IsDefined()) {
    test.min_where = reader.location(node["min_per_variant"]);
    if (reader.read(node, "ab_test", "min_per_variant", test.min_per_variant) &&
        test.min_per_variant < 1)
      reader.issue(node["min_per_variant"],
                   "ab_test.min_per_variant: expected a positive number of sends per variant, "
                   "got " +
                       std::to_string(test.min_per_variant));
  }
  if (node["sample"].IsDefined()) {
    test.sample_where = reader.location(node["sample"]);
    std::string sample;
    if (reader.read(node, "ab_test", "sample", sample)) {
      int percent = 0;
      auto [end, ec] = std::from_chars(sample.data(), sample.data() + sample.size(), percent);
      std::string_view rest(end, static_cast<std::size_t>(sample.data() + sample.size() - end));
      if (ec != std::errc() || rest != "%" || percent < 1 || percent > 100) {
        reader.issue(node["sample"],
                     "ab_test.sample: expected a share of the audience from 1% to 100%, like "
                     "20%, got '" +
                         sample + "'");
      } else {
        test.sample_percent = percent;
      }
    }
  }
  bool has_variants = std::any_of(campaign.steps.begin(), campaign.steps.end(),
                                  [](const step_config& s) { return s.variants.size() > 1; });
  if (!has_variants && !campaign.steps.empty()) {
    reader.issue(node, "ab_test: no step has two or more variants to compare");
  }
  campaign.ab_test = std::move(test);
}

void read_caps(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign) {
  campaign_cap_config caps;
  caps.where = reader.location(node);
  if (!reader.expect_map(node, "caps")) return;
  reader.check_keys(node, "caps", {"max", "per"});
  if (reader.require(node, "caps", "max") && reader.read(node, "caps", "max", caps.max) &&
      caps.max < 1) {
    reader.issue(node["max"], "caps.max: expected 1 or more, got " + std::to_string(caps.max) +
                                  " (to send nothing, leave the recipients out of the audience)");
  }
  std::string per;
  if (reader.require(node, "caps", "per") && reader.read(node, "caps", "per", per)) {
    if (auto duration = parse_duration(per)) {
      caps.per = *duration;
    } else {
      reader.issue(node["per"],
                   "caps.per: expected a duration like 1d, 7d, 12h or 30m, got '" + per + "'");
    }
  }
  campaign.caps = caps;
}

void read_campaign(yaml_reader& reader, const YAML::Node& root, campaign_config& campaign) {
  campaign.where = reader.location(root);
  if (!reader.expect_map(root, "")) return;
  reader.check_keys(
      root, "",
      {"campaign", "sender", "category", "priority", "anchor", "trigger", "stop_on", "audience",
       "window", "steps", "replies", "ab_test", "caps", "on_cap", "holdout"});
  for (const char* key : {"campaign", "sender"}) {
    std::string& out = key == std::string_view("campaign") ? campaign.name : campaign.sender;
    if (reader.require(root, "", key) && reader.read(root, "", key, out) && out.empty()) {
      reader.issue(root[key], std::string(key) + ": expected a name, got an empty string");
    }
  }
  if (root["sender"].IsDefined()) campaign.sender_where = reader.location(root["sender"]);
  if (reader.read(root, "", "category", campaign.category) && campaign.category != "marketing" &&
      campaign.category != "transactional") {
    reader.issue(root["category"],
                 "category: expected marketing or transactional, got '" + campaign.category + "'");
  }
  reader.read(root, "", "priority", campaign.priority);
  if (reader.read(root, "", "anchor", campaign.anchor) && !parse_iso_date(campaign.anchor)) {
    reader.issue(root["anchor"],
                 "anchor: expected a date YYYY-MM-DD, got '" + campaign.anchor + "'");
  }
  if (const YAML::Node trigger = root["trigger"]; trigger.IsDefined())
    read_trigger(reader, trigger, campaign);
  if (reader.read(root, "", "stop_on", campaign.stop_on)) {
    for (std::size_t i = 0; i < campaign.stop_on.size(); ++i) {
      if (!valid_trigger(campaign.stop_on[i])) {
        reader.issue(root["stop_on"][i], "stop_on: expected opt_out, reply:X or event:NAME, got '" +
                                             campaign.stop_on[i] + "'");
      }
    }
  }
  if (const YAML::Node audience = root["audience"]; audience.IsDefined()) {
    read_audience(reader, audience, campaign.audience);
  }
  if (const YAML::Node window = root["window"]; window.IsDefined()) {
    campaign.window = read_window(reader, window, "window");
  }
  if (reader.require(root, "", "steps")) read_steps(reader, root["steps"], campaign);
  if (const YAML::Node replies = root["replies"]; replies.IsDefined()) {
    read_replies(reader, replies, campaign);
  }
  if (const YAML::Node ab_test = root["ab_test"]; ab_test.IsDefined()) {
    read_ab_test(reader, ab_test, campaign);
  }
  // A follow-up names a step of this campaign.
  for (const auto& k : campaign.keywords) {
    if (k.step.empty()) continue;
    bool known = std::any_of(campaign.steps.begin(), campaign.steps.end(),
                             [&](const step_config& s) { return s.id == k.step; });
    if (!known)
      reader.issue(k.where, "replies.keywords." + k.keyword + ".step: no step '" + k.step +
                                "' in this campaign");
  }
  check_step_times(reader, campaign);
  if (const YAML::Node caps = root["caps"]; caps.IsDefined()) read_caps(reader, caps, campaign);
  if (reader.read(root, "", "holdout", campaign.holdout) &&
      (campaign.holdout < 0 || campaign.holdout > 50)) {
    reader.issue(root["holdout"], "holdout: expected a percentage from 0 to 50, got " +
                                      std::to_string(campaign.holdout));
  }
  if (reader.read(root, "", "on_cap", campaign.on_cap) && campaign.on_cap != "defer" &&
      campaign.on_cap != "drop") {
    reader.issue(root["on_cap"], "on_cap: expected defer or drop, got '" + campaign.on_cap + "'");
  }
}

}  // namespace

namespace {

campaign_load parse_collecting(const std::string& yaml_text, const std::string& name) {
  yaml_reader reader(name);
  campaign_load out;
  out.campaign.path = name;
  out.campaign.source_text = yaml_text;
  if (auto root = reader.parse(yaml_text)) read_campaign(reader, *root, out.campaign);
  out.issues = reader.issues();
  // In file order, as throw_if_issues sorts them; ties keep the order found.
  std::stable_sort(out.issues.begin(), out.issues.end(), [](const auto& a, const auto& b) {
    return std::pair{a.where.line, a.where.column} < std::pair{b.where.line, b.where.column};
  });
  return out;
}

}  // namespace

campaign_config parse_campaign(const std::string& yaml_text, const std::string& name) {
  auto load = parse_collecting(yaml_text, name);
  if (!load.issues.empty()) throw config_error(std::move(load.issues));
  return std::move(load.campaign);
}

campaign_config load_campaign(const std::string& path) {
  return parse_campaign(detail::read_file(path), path);
}

campaign_load collect_campaign(const std::string& path) {
  return parse_collecting(detail::read_file(path), path);
}

const keyword_config* follow_up_of(const campaign_config& campaign, std::string_view step_id) {
  for (const auto& k : campaign.keywords)
    if (k.action == "follow_up" && k.step == step_id) return &k;
  return nullptr;
}

std::vector<config_issue> check_campaign_against(const campaign_config& campaign,
                                                 const engine_config& engine) {
  std::vector<config_issue> issues;
  // An empty sender is missing or unreadable: the file's own check reported it.
  if (!campaign.sender.empty() && !engine.senders.contains(campaign.sender)) {
    std::string known;
    for (const auto& [name, sender] : engine.senders) known += (known.empty() ? "" : ", ") + name;
    issues.push_back(
        {campaign.sender_where,
         "sender: '" + campaign.sender + "' is not defined in the engine config " +
             (known.empty() ? "(it defines no senders)" : "(senders: " + known + ")")});
  } else if (!campaign.sender.empty()) {
    const auto& sender = engine.senders.at(campaign.sender);
    for (const auto& k : campaign.keywords) {
      if (k.respond.empty()) continue;
      if (auto problem = reply_text_problem(sender, k.respond); !problem.empty())
        issues.push_back(
            {k.respond_where, "replies.keywords." + k.keyword + ".respond: " + problem});
    }
  }
  return issues;
}

}  // namespace pigeon::config
