#include "config/engine_config.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "config/ops_config.hpp"
#include "config/reply_texts.hpp"
#include "config/values.hpp"
#include "config/yaml_reader.hpp"

namespace pigeon::config {

namespace {

using detail::join_path;
using detail::yaml_reader;

constexpr std::array<std::string_view, 4> provider_kinds{"twilio", "kannel", "generic-http",
                                                         "simulator"};

// "host:port" with a numeric port; the host may be empty (all interfaces).
bool valid_listen_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  std::string_view port(address);
  port.remove_prefix(colon + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return std::stoi(std::string(port)) <= 65535;
}

void read_listen(yaml_reader& reader, const YAML::Node& node, engine_config& config) {
  if (!reader.expect_map(node, "listen")) return;
  reader.check_keys(node, "listen", {"webhooks", "admin", "max_connections"});
  if (long cap = 0; reader.read(node, "listen", "max_connections", cap)) {
    if (cap < 1 || cap > 1000000)
      reader.issue(node["max_connections"],
                   "listen.max_connections: expected 1 to 1000000 connections per listener, got " +
                       std::to_string(cap));
    else
      config.listen_max_connections = static_cast<std::size_t>(cap);
  }
  for (auto [key, out] :
       {std::pair{"webhooks", &config.listen_webhooks}, std::pair{"admin", &config.listen_admin}}) {
    if (reader.read(node, "listen", key, *out) && !valid_listen_address(*out)) {
      reader.issue(node[key],
                   join_path("listen", key) + ": expected host:port, got '" + *out + "'");
    }
  }
}

// Adds one provider setting, flattening nested maps into dotted keys and lists of text into
// comma-separated values.
void add_setting(yaml_reader& reader, const std::string& path, const std::string& key,
                 const YAML::Node& node, std::map<std::string, setting>& settings) {
  setting value{"", reader.location(node)};
  if (node.IsMap()) {
    reader.check_duplicate_keys(node, join_path(path, key));
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) continue;  // reported by check_duplicate_keys
      add_setting(reader, path, key + "." + entry.first.Scalar(), entry.second, settings);
    }
    return;
  }
  if (node.IsSequence()) {
    auto items = reader.text_list(node, join_path(path, key));
    if (!items) return;
    for (const auto& item : *items) value.value += (value.value.empty() ? "" : ",") + item;
  } else if (node.IsScalar()) {
    auto text = reader.text(node, join_path(path, key));
    if (!text) return;
    value.value = *text;
  }
  if (!settings.emplace(key, value).second) {
    reader.issue(node, join_path(path, key) + ": the setting is given twice");
  }
}

void read_provider(yaml_reader& reader, const std::string& name, const YAML::Node& node,
                   provider_config& provider) {
  const std::string path = join_path("providers", name);
  provider.name = name;
  provider.where = reader.location(node);
  if (!reader.expect_map(node, path)) return;
  reader.check_duplicate_keys(node, path);
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;
    const std::string& key = entry.first.Scalar();
    const YAML::Node& value = entry.second;
    if (key == "kind") {
      auto kind = reader.text(value, join_path(path, key));
      if (!kind) continue;
      provider.kind = *kind;
      if (std::find(provider_kinds.begin(), provider_kinds.end(), *kind) == provider_kinds.end()) {
        reader.issue(value, path + ".kind: unknown provider kind '" + *kind +
                                "'; expected one of twilio, kannel, generic-http, simulator");
      }
    } else if (key == "rate") {
      auto text = reader.text(value, join_path(path, key));
      if (!text) continue;
      if (auto rate = parse_rate(*text)) {
        provider.rate_per_second = *rate;
      } else {
        reader.issue(value, path +
                                ".rate: expected a positive rate like 100/s, 6000/min or "
                                "3600/h, got '" +
                                *text + "'");
      }
    } else if (key == "burst") {
      // Segments that may go at once after idling, on top of the rate.
      auto count = reader.integer(value, join_path(path, key));
      if (!count) continue;
      if (*count <= 0 || *count > 10000000) {
        reader.issue(value, path + ".burst: expected a positive number of segments, got " +
                                std::to_string(*count));
      } else {
        provider.burst = static_cast<double>(*count);
      }
    } else if (key == "price_per_segment") {
      auto text = reader.text(value, join_path(path, key));
      if (!text) continue;
      if (auto price = parse_price(*text)) {
        provider.price_per_segment = price->first;
        provider.currency = price->second;
      } else {
        reader.issue(value, path +
                                ".price_per_segment: expected an amount and an ISO 4217 currency "
                                "code like \"0.045 CNY\" or \"0.0079 USD\", got '" +
                                *text + "'");
      }
    } else if (key == "concurrency") {
      auto count = reader.integer(value, join_path(path, key));
      if (!count) continue;
      if (*count <= 0 || *count > 100000) {
        reader.issue(value, path + ".concurrency: expected a positive number, got " +
                                std::to_string(*count));
      } else {
        provider.concurrency = static_cast<int>(*count);
      }
    } else {
      // Each provider validates its own keys later, naming the place.
      add_setting(reader, path, key, value, provider.settings);
    }
  }
  reader.require(node, path, "kind");
}

// The confirmations' defaults follow the signature's script; every text a customer's reply can
// trigger is measured here, at load, against the sender's limit (config/reply_texts.hpp).
void check_reply_texts(yaml_reader& reader, const std::string& path, const YAML::Node& node,
                       sender_config& sender) {
  if (!node["opt_out_reply"].IsDefined())
    sender.opt_out_reply = default_opt_out_reply(sender.signature);
  if (!node["opt_in_reply"].IsDefined())
    sender.opt_in_reply = default_opt_in_reply(sender.signature);
  for (auto [key, text] : {std::pair{"help_text", &sender.help_text},
                           std::pair{"opt_out_reply", &sender.opt_out_reply},
                           std::pair{"opt_in_reply", &sender.opt_in_reply}}) {
    if (text->empty()) continue;
    auto problem = reply_text_problem(sender, *text);
    if (problem.empty()) continue;
    const bool written = node[key].IsDefined();
    reader.issue(
        written ? node[key] : node,
        path + "." + key + (written ? "" : " (the default: '" + *text + "')") + ": " + problem);
  }
}

void read_sender(yaml_reader& reader, const std::string& name, const YAML::Node& node,
                 const std::map<std::string, provider_config>& providers, sender_config& sender) {
  const std::string path = join_path("senders", name);
  sender.name = name;
  sender.where = reader.location(node);
  if (!reader.expect_map(node, path)) return;
  reader.check_keys(node, path,
                    {"signature", "opt_out_hint", "sms_max_segments", "mms_max_bytes", "help_text",
                     "smart_encoding", "route", "opt_out_reply", "opt_in_reply"});
  if (std::string smart; reader.read(node, path, "smart_encoding", smart)) {
    if (smart == "true" || smart == "false")
      sender.smart_encoding = smart == "true";
    else
      reader.issue(node["smart_encoding"],
                   path + ".smart_encoding: expected true or false, got '" + smart + "'");
  }
  reader.read(node, path, "signature", sender.signature);
  reader.read(node, path, "opt_out_hint", sender.opt_out_hint);
  reader.read(node, path, "help_text", sender.help_text);
  reader.read(node, path, "opt_out_reply", sender.opt_out_reply);
  reader.read(node, path, "opt_in_reply", sender.opt_in_reply);
  if (reader.read(node, path, "sms_max_segments", sender.sms_max_segments) &&
      (sender.sms_max_segments < 1 || sender.sms_max_segments > 255)) {
    reader.issue(node["sms_max_segments"],
                 path + ".sms_max_segments: expected a number from 1 to 255, got " +
                     std::to_string(sender.sms_max_segments));
  }
  if (reader.read(node, path, "mms_max_bytes", sender.mms_max_bytes) && sender.mms_max_bytes <= 0) {
    reader.issue(node["mms_max_bytes"], path + ".mms_max_bytes: expected a positive number, got " +
                                            std::to_string(sender.mms_max_bytes));
  }
  check_reply_texts(reader, path, node, sender);
  if (!reader.require(node, path, "route")) return;
  const YAML::Node route = node["route"];
  if (!reader.read(node, path, "route", sender.route)) return;
  if (sender.route.empty()) reader.issue(route, path + ".route: expected at least one provider");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < sender.route.size(); ++i) {
    const std::string& provider = sender.route[i];
    if (!providers.contains(provider)) {
      reader.issue(route[i],
                   path + ".route: provider '" + provider + "' is not defined under providers");
    } else if (!seen.insert(provider).second) {
      reader.issue(route[i], path + ".route: provider '" + provider + "' is listed twice");
    }
  }
}

void read_frequency_rule(yaml_reader& reader, const std::string& path, const YAML::Node& node,
                         const policy_config& policy, frequency_rule& rule) {
  rule.where = reader.location(node);
  if (!reader.expect_map(node, path)) return;
  reader.check_keys(node, path, {"tier", "calendar", "max", "per"});
  bool has_tier = reader.read(node, path, "tier", rule.tier);
  bool has_calendar = reader.read(node, path, "calendar", rule.calendar);
  if (node["tier"].IsDefined() == node["calendar"].IsDefined()) {
    reader.issue(node, path + ": expected exactly one of 'tier' or 'calendar'");
  } else if (has_tier && !policy.tiers.contains(rule.tier)) {
    reader.issue(node["tier"],
                 path + ".tier: tier '" + rule.tier + "' is not defined under policy.tiers");
  } else if (has_calendar && !policy.calendars.contains(rule.calendar)) {
    reader.issue(node["calendar"], path + ".calendar: calendar '" + rule.calendar +
                                       "' is not defined under policy.calendars");
  }
  if (reader.require(node, path, "max") && reader.read(node, path, "max", rule.max) &&
      rule.max < 0) {
    reader.issue(node["max"],
                 path + ".max: expected zero or more, got " + std::to_string(rule.max));
  }
  std::string per;
  if (reader.require(node, path, "per") && reader.read(node, path, "per", per)) {
    if (auto duration = parse_duration(per)) {
      rule.per = *duration;
    } else {
      reader.issue(node["per"],
                   path + ".per: expected a duration like 1d, 7d, 12h or 30m, got '" + per + "'");
    }
  }
}

void read_keywords(yaml_reader& reader, const YAML::Node& node, policy_config& policy) {
  const std::string path = "policy.keywords";
  if (!reader.expect_map(node, path)) return;
  reader.check_keys(node, path, {"opt_out", "opt_in", "help"});
  reader.read(node, path, "opt_out", policy.opt_out_keywords);
  reader.read(node, path, "opt_in", policy.opt_in_keywords);
  reader.read(node, path, "help", policy.help_keywords);
  // A keyword in two lists would make a reply's meaning depend on the order of checks.
  auto upper = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
  };
  std::map<std::string, std::string> owner;
  for (auto [list, name] :
       {std::pair{&policy.opt_out_keywords, "opt_out"},
        std::pair{&policy.opt_in_keywords, "opt_in"}, std::pair{&policy.help_keywords, "help"}}) {
    for (const auto& keyword : *list) {
      auto [it, inserted] = owner.emplace(upper(keyword), name);
      if (!inserted && it->second != name) {
        reader.issue(
            node[name].IsDefined() ? node[name] : node,
            path + ": keyword '" + keyword + "' is in both " + it->second + " and " + name);
      }
    }
  }
}

void read_policy(yaml_reader& reader, const YAML::Node& node, policy_config& policy) {
  if (!reader.expect_map(node, "policy")) return;
  reader.check_keys(
      node, "policy",
      {"quiet_hours", "window_spread", "tiers", "frequency", "calendars", "keywords"});
  if (std::string spread; reader.read(node, "policy", "window_spread", spread)) {
    policy.window_spread_where = reader.location(node["window_spread"]);
    // parse_duration takes positive durations only; "0", "0s", "0m" mean no spread.
    const auto digits_end = spread.find_first_not_of('0');
    const bool zero = !spread.empty() && digits_end > 0 &&
                      (digits_end == std::string::npos ||
                       (digits_end + 1 == spread.size() &&
                        std::string_view("smhdw").find(spread.back()) != std::string_view::npos));
    auto d = zero ? std::optional<std::chrono::seconds>(0) : parse_duration(spread);
    if (!d || d->count() < 0 || *d > std::chrono::hours(1)) {
      reader.issue(
          node["window_spread"],
          "policy.window_spread: expected a duration from 0s to 1h like 10m, got '" + spread + "'");
    } else {
      policy.window_spread = *d;
    }
  }
  if (reader.read(node, "policy", "quiet_hours", policy.quiet_hours) &&
      !parse_clock_range(policy.quiet_hours)) {
    reader.issue(node["quiet_hours"],
                 "policy.quiet_hours: expected HH:MM-HH:MM, got '" + policy.quiet_hours + "'");
  }
  if (const YAML::Node tiers = node["tiers"];
      tiers.IsDefined() && reader.expect_map(tiers, "policy.tiers")) {
    reader.check_duplicate_keys(tiers, "policy.tiers");
    for (const auto& entry : tiers) {
      if (!entry.first.IsScalar()) continue;
      const std::string& name = entry.first.Scalar();
      if (auto text = reader.text(entry.second, "policy.tiers." + name)) {
        policy.tiers[name] = *text;
      }
    }
  }
  if (const YAML::Node calendars = node["calendars"];
      calendars.IsDefined() && reader.expect_map(calendars, "policy.calendars")) {
    reader.check_duplicate_keys(calendars, "policy.calendars");
    for (const auto& entry : calendars) {
      if (!entry.first.IsScalar()) continue;
      const std::string path = "policy.calendars." + entry.first.Scalar();
      auto dates = reader.text_list(entry.second, path);
      if (!dates) continue;
      for (std::size_t i = 0; i < dates->size(); ++i) {
        if (!parse_iso_date((*dates)[i])) {
          reader.issue(entry.second[i],
                       path + ": expected a date YYYY-MM-DD, got '" + (*dates)[i] + "'");
        }
      }
      policy.calendars[entry.first.Scalar()] = std::move(*dates);
    }
  }
  // After tiers and calendars, which the rules refer to.
  if (const YAML::Node frequency = node["frequency"];
      frequency.IsDefined() && reader.expect_list(frequency, "policy.frequency")) {
    for (std::size_t i = 0; i < frequency.size(); ++i) {
      frequency_rule rule;
      read_frequency_rule(reader, "policy.frequency[" + std::to_string(i) + "]", frequency[i],
                          policy, rule);
      policy.frequency.push_back(std::move(rule));
    }
  }
  if (const YAML::Node keywords = node["keywords"]; keywords.IsDefined()) {
    read_keywords(reader, keywords, policy);
  }
}

// media_dir, made absolute from the config file's folder (so `serve` and `campaign apply` find
// the same folder from wherever they run). Its existence is checked where it is used.
void read_media_dir(yaml_reader& reader, const YAML::Node& root, engine_config& config) {
  std::string dir;
  if (!reader.read(root, "", "media_dir", dir)) return;
  const YAML::Node node = root["media_dir"];
  config.media_dir_where = reader.location(node);
  if (dir.empty()) {
    reader.issue(node, "media_dir: expected a folder, got an empty string");
    return;
  }
  namespace fs = std::filesystem;
  fs::path p(dir);
  if (p.is_relative()) p = fs::path(config.path).parent_path() / p;
  std::error_code ec;
  p = fs::absolute(p, ec).lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  if (ec || p == p.root_path()) {
    reader.issue(node, "media_dir: '" + dir +
                           "' would serve every file of the machine to anyone: name the folder "
                           "that holds only the media carriers may fetch");
    return;
  }
  config.media_dir = p.string();
}

bool valid_time_zone(const std::string& name) {
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

namespace {

void read_engine(yaml_reader& reader, const YAML::Node& root, engine_config& config, secrets mode) {
  if (!reader.expect_map(root, "")) return;
  reader.check_keys(root, "",
                    {"database", "listen", "public_url", "default_timezone", "default_region",
                     "reconcile_grace", "policy", "senders", "providers", "alerts", "admin_token",
                     "admin_hosts", "drain_timeout", "log_format", "media_dir", "node"});
  if (std::string grace; reader.read(root, "", "reconcile_grace", grace)) {
    if (grace == "0" || grace == "0s") {
      config.reconcile_grace = std::chrono::seconds(0);
    } else if (auto d = parse_duration(grace)) {
      config.reconcile_grace = *d;
    } else {
      reader.issue(root["reconcile_grace"],
                   "reconcile_grace: expected a duration like 30s or 2m, got '" + grace + "'");
    }
  }
  if (reader.read(root, "", "database", config.database) && config.database.empty()) {
    reader.issue(root["database"], "database: expected a path, got an empty string");
  }
  if (reader.read(root, "", "node", config.node) && !valid_node_name(config.node)) {
    reader.issue(root["node"],
                 "node: expected a name of letters, digits, '.', '_' and '-' (at "
                 "most 63), got '" +
                     config.node + "'");
  }
  if (const YAML::Node listen = root["listen"]; listen.IsDefined()) {
    read_listen(reader, listen, config);
  }
  if (reader.read(root, "", "public_url", config.public_url) &&
      !config.public_url.starts_with("http://") && !config.public_url.starts_with("https://")) {
    reader.issue(root["public_url"], "public_url: expected an http:// or https:// URL, got '" +
                                         config.public_url + "'");
  } else if (config.public_url.find_first_of("?#") != std::string::npos) {
    // Webhook paths and their query (`?id=…`, Kannel's token) are appended to it: a query or a
    // fragment here would swallow them and every receipt would be lost.
    reader.issue(root["public_url"],
                 "public_url: must not carry a query or fragment (webhook paths are appended to "
                 "it), got '" +
                     config.public_url + "'");
  }
  read_media_dir(reader, root, config);
  if (reader.read(root, "", "default_timezone", config.default_timezone) &&
      !valid_time_zone(config.default_timezone)) {
    reader.issue(root["default_timezone"], "default_timezone: '" + config.default_timezone +
                                               "' is not an IANA time zone (like Asia/Shanghai)");
  }
  if (reader.read(root, "", "default_region", config.default_region)) {
    std::string& region = config.default_region;
    bool ok = region.size() == 2 && std::isalpha(static_cast<unsigned char>(region[0])) &&
              std::isalpha(static_cast<unsigned char>(region[1]));
    if (!ok) {
      reader.issue(root["default_region"],
                   "default_region: expected a two-letter ISO 3166 region like CN or US, got '" +
                       region + "'");
    }
    for (char& c : region) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (const YAML::Node policy = root["policy"]; policy.IsDefined()) {
    read_policy(reader, policy, config.policy);
  }
  // Providers before senders: routes refer to them.
  if (const YAML::Node providers = root["providers"];
      providers.IsDefined() && reader.expect_map(providers, "providers")) {
    reader.check_duplicate_keys(providers, "providers");
    // Credentials are provider settings: left as `${NAME}` when the command will not send.
    reader.keep_unset_env(mode == secrets::leave_unset);
    for (const auto& entry : providers) {
      if (!entry.first.IsScalar()) continue;
      read_provider(reader, entry.first.Scalar(), entry.second,
                    config.providers[entry.first.Scalar()]);
    }
    reader.keep_unset_env(false);
  }
  if (const YAML::Node senders = root["senders"];
      senders.IsDefined() && reader.expect_map(senders, "senders")) {
    reader.check_duplicate_keys(senders, "senders");
    for (const auto& entry : senders) {
      if (!entry.first.IsScalar()) continue;
      read_sender(reader, entry.first.Scalar(), entry.second, config.providers,
                  config.senders[entry.first.Scalar()]);
    }
  }
  read_operations(reader, root, config, mode);
}

}  // namespace

engine_config parse_engine_config(const std::string& yaml_text, const std::string& name,
                                  secrets mode) {
  yaml_reader reader(name);
  engine_config config;
  config.path = name;
  if (auto root = reader.parse(yaml_text)) read_engine(reader, *root, config, mode);
  reader.throw_if_issues();
  return config;
}

engine_config load_engine_config(const std::string& path, secrets mode) {
  return parse_engine_config(detail::read_file(path), path, mode);
}

}  // namespace pigeon::config
