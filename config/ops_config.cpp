#include "config/ops_config.hpp"

#include <charconv>

#include "config/values.hpp"

namespace pigeon::config {

namespace {

using detail::join_path;
using detail::yaml_reader;

bool read_duration(yaml_reader& reader, const YAML::Node& map, std::string_view path,
                   const char* key, std::chrono::seconds& out) {
  std::string text;
  if (!reader.read(map, path, key, text)) return false;
  auto d = parse_duration(text);
  if (!d) {
    reader.issue(map[key], join_path(path, key) +
                               ": expected a duration like 30s, 10m or 1h, got '" + text + "'");
    return false;
  }
  out = *d;
  return true;
}

// A fraction between 0 and 1 ("0.05"), or a percentage ("5%").
bool read_rate(yaml_reader& reader, const YAML::Node& map, std::string_view path, const char* key,
               double& out) {
  std::string text;
  if (!reader.read(map, path, key, text)) return false;
  bool percent = !text.empty() && text.back() == '%';
  std::string_view number(text.data(), text.size() - (percent ? 1 : 0));
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (percent) value /= 100;
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || value < 0 ||
      value > 1) {
    reader.issue(map[key], join_path(path, key) +
                               ": expected a fraction between 0 and 1 (0.05) or a percentage "
                               "(5%), got '" +
                               text + "'");
    return false;
  }
  out = value;
  return true;
}

void read_alerts(yaml_reader& reader, const YAML::Node& node, alert_thresholds& a) {
  if (!reader.expect_map(node, "alerts")) return;
  a.where = reader.location(node);
  reader.check_keys(node, "alerts",
                    {"heartbeat_stale", "oldest_due_warning", "oldest_due_critical",
                     "failure_rate_warning", "failure_rate_critical", "retry_backlog_warning"});
  read_duration(reader, node, "alerts", "heartbeat_stale", a.heartbeat_stale);
  read_duration(reader, node, "alerts", "oldest_due_warning", a.oldest_due_warning);
  read_duration(reader, node, "alerts", "oldest_due_critical", a.oldest_due_critical);
  read_rate(reader, node, "alerts", "failure_rate_warning", a.failure_rate_warning);
  read_rate(reader, node, "alerts", "failure_rate_critical", a.failure_rate_critical);
  if (reader.read(node, "alerts", "retry_backlog_warning", a.retry_backlog_warning) &&
      a.retry_backlog_warning < 0) {
    reader.issue(node["retry_backlog_warning"],
                 "alerts.retry_backlog_warning: expected zero or more, got " +
                     std::to_string(a.retry_backlog_warning));
  }
  if (a.oldest_due_critical < a.oldest_due_warning) {
    reader.issue(node, "alerts: oldest_due_critical must not be shorter than oldest_due_warning");
  }
  if (a.failure_rate_critical < a.failure_rate_warning) {
    reader.issue(node, "alerts: failure_rate_critical must not be lower than failure_rate_warning");
  }
}

}  // namespace

bool is_loopback_address(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

void read_operations(yaml_reader& reader, const YAML::Node& root, engine_config& config,
                     secrets mode) {
  if (const YAML::Node alerts = root["alerts"]; alerts.IsDefined()) {
    read_alerts(reader, alerts, config.alerts);
  }
  reader.keep_unset_env(mode == secrets::leave_unset);
  reader.read(root, "", "admin_token", config.admin_token);
  reader.keep_unset_env(false);
  if (reader.read(root, "", "admin_hosts", config.admin_hosts)) {
    for (auto& h : config.admin_hosts) {
      bool ok = !h.empty() && h.find_first_of("/?#@ \t") == std::string::npos;
      if (!ok)
        reader.issue(root["admin_hosts"],
                     "admin_hosts: expected host names like "
                     "ops.example.com (optionally :port), got '" +
                         h + "'");
      for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (read_duration(reader, root, "", "drain_timeout", config.drain_timeout) &&
      config.drain_timeout.count() == 0) {
    reader.issue(root["drain_timeout"], "drain_timeout: expected at least 1s");
  }
  std::string format;
  if (reader.read(root, "", "log_format", format)) {
    if (format == "json") {
      config.logs = log_format::json;
    } else if (format == "text") {
      config.logs = log_format::text;
    } else {
      reader.issue(root["log_format"], "log_format: expected json or text, got '" + format + "'");
    }
  }
  // The admin API shows every campaign and can pause them: off loopback it needs a token.
  if (!is_loopback_address(config.listen_admin) && config.admin_token.empty()) {
    const YAML::Node listen = root["listen"];
    auto where = listen.IsMap() && listen["admin"].IsDefined() ? reader.location(listen["admin"])
                                                               : reader.location(root);
    reader.issue(where, "listen.admin: '" + config.listen_admin +
                            "' is not a loopback address, so admin_token is required "
                            "(admin_token: ${PIGEON_ADMIN_TOKEN})");
  }
}

}  // namespace pigeon::config
