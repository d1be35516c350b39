#include "config/campaign.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>

#include "config/campaign_sections.hpp"
#include "config/engine_config.hpp"
#include "config/reply_texts.hpp"
#include "config/values.hpp"
#include "config/yaml_reader.hpp"

namespace pigeon::config {

namespace {

using detail::indexed;
using detail::join_path;
using detail::read_ab_test;
using detail::read_caps;
using detail::read_replies;
using detail::read_trigger;
using detail::valid_trigger;
using detail::yaml_reader;

constexpr std::array<std::string_view, 7> week_days{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};

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
