// The campaign file's `trigger`, `replies`, `ab_test` and `caps` sections (see
// config/campaign_sections.hpp).
#include "config/campaign_sections.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "config/values.hpp"

namespace pigeon::config::detail {

bool valid_trigger(const std::string& text) {
  if (text == "opt_out") return true;
  for (std::string_view prefix : {"reply:", "event:"}) {
    if (text.starts_with(prefix) && text.size() > prefix.size()) return true;
  }
  return false;
}

namespace {

void read_duration(yaml_reader& reader, const YAML::Node& map, const std::string& path,
                   const char* key, std::string& out) {
  if (reader.read(map, path, key, out) && !parse_duration(out)) {
    reader.issue(map[key], join_path(path, key) +
                               ": expected a duration like 7d, 12h or 30m, got '" + out + "'");
  }
}

}  // namespace

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

}  // namespace pigeon::config::detail
