#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/source_location.hpp"

namespace pigeon::config {

// A provider-specific setting, kept as text with its location: each provider declares and
// validates its own keys (unknown keys are errors naming the place), so this layer does not
// need to know them. `${ENV}` references are already substituted in `value` (an unset one stays
// as its `${NAME}` text when loaded with secrets::leave_unset).
struct setting {
  std::string value;
  source_location where;
};

struct provider_config {
  std::string name;            // the key under `providers:`
  std::string kind;            // twilio | kannel | generic-http | simulator
  double rate_per_second = 0;  // segments per second; 0 = unlimited
  int concurrency = 16;        // requests in flight at once
  double burst = 0;            // segments at once after idling; 0 = 50 ms of rate (min 1)
  // `price_per_segment: "0.045 CNY"`: what one segment costs, in an ISO 4217 currency (the
  // report's cost); unset = unknown.
  std::optional<double> price_per_segment;
  std::string currency;
  source_location where;
  std::map<std::string, setting> settings;  // every other key of the provider's map
};

struct sender_config {
  std::string name;
  std::string signature;     // prefixed to every message, counted in the length
  std::string opt_out_hint;  // appended to marketing SMS, counted in the length
  int sms_max_segments = 1;
  long mms_max_bytes = 512000;
  std::string help_text;
  // Confirmations of a STOP and a START (transactional, through this sender). Loading a config
  // sets the defaults by the signature: Chinese for a CJK signature (config/reply_texts.hpp).
  std::string opt_out_reply =
      "You are unsubscribed and will get no more messages from us. Reply START to resubscribe.";
  std::string opt_in_reply = "You are subscribed again. Reply STOP to opt out.";
  // Map curly quotes, dashes, ellipses and similar to GSM-7 look-alikes when that saves segments.
  bool smart_encoding = false;
  std::vector<std::string> route;  // provider names, failover order
  source_location where;
};

struct frequency_rule {
  std::string tier;      // set for tier rules
  std::string calendar;  // set for calendar rules
  int max = 0;
  std::chrono::seconds per{0};
  source_location where;
};

struct policy_config {
  std::string quiet_hours;                   // "21:00-08:00" or empty
  std::map<std::string, std::string> tiers;  // name -> expression
  std::vector<frequency_rule> frequency;
  std::map<std::string, std::vector<std::string>> calendars;  // name -> ISO dates
  std::vector<std::string> opt_out_keywords{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL",
                                            "END",  "QUIT",    "REVOKE",      "OPT OUT",
                                            "T",    "TD",      "R",           "退订"};
  std::vector<std::string> opt_in_keywords{"START", "UNSTOP", "YES"};
  std::vector<std::string> help_keywords{"HELP", "INFO"};
  // `window_spread: 10m`: a step falling due at its window's opening (apply) and a message
  // deferred to an opening (dispatch) are spread over this much, per recipient, so a large
  // audience does not fall due in the same second. 0s: none.
  std::chrono::seconds window_spread{300};
  source_location window_spread_where;
};

// Thresholds of `pigeon status` (and the admin /status endpoint): each alert is a warning or
// critical once its figure passes the threshold. Reloaded by SIGHUP.
struct alert_thresholds {
  std::chrono::seconds heartbeat_stale{30};  // no heartbeat for this long: engine down
  std::chrono::seconds oldest_due_warning{600};
  std::chrono::seconds oldest_due_critical{1800};
  double failure_rate_warning = 0.05;  // failed / finished attempts over the last hour
  double failure_rate_critical = 0.2;
  long retry_backlog_warning = 100;  // messages waiting to retry
  source_location where;
};

enum class log_format { text, json };

struct engine_config {
  std::string path;  // the file it was loaded from
  std::string database = "var/pigeon.db";
  // This engine's name among the nodes sharing a PostgreSQL database (`node:`, or `serve
  // --node`); empty: the host name. Letters, digits, '.', '_' and '-', at most 63.
  std::string node;
  std::string listen_webhooks = "127.0.0.1:8080";
  // Open connections per listener at most (`listen.max_connections`); 0: derived at start from
  // the process's file-descriptor limit, leaving room for the store and the carriers.
  std::size_t listen_max_connections = 0;
  std::string listen_admin = "127.0.0.1:9090";
  std::string public_url;
  // The folder of local MMS media (`media_dir`), absolute (a relative one is taken from the
  // config file's folder); empty: none, and a campaign's local media are refused. Its files
  // are served to carriers as {public_url}/media/<path> (engine/dispatch/media_files.hpp).
  std::string media_dir;
  source_location media_dir_where;
  std::string default_timezone = "UTC";
  // ISO 3166 region used to read national-format phone numbers ("CN", "US"); empty means
  // numbers must be in international (+...) format.
  std::string default_region;
  // After a crash, messages left `submitting` wait this long before being resent, so a delivery
  // receipt arriving meanwhile can prove the carrier has them (`reconcile_grace: 30s`).
  std::chrono::seconds reconcile_grace{30};
  policy_config policy;
  std::map<std::string, sender_config> senders;
  std::map<std::string, provider_config> providers;
  // Operations (engine/ops): see config/ops_config.cpp.
  alert_thresholds alerts;
  // Required when listen.admin is not a loopback address; sent as `Authorization: Bearer`.
  std::string admin_token;
  // Names (host or host:port, lower case) the admin listener answers to besides its own
  // address, localhost, 127.0.0.1 and [::1]: a request naming any other Host is refused (DNS
  // rebinding), and so is a cross-origin browser request.
  std::vector<std::string> admin_hosts;
  // How long SIGTERM waits for in-flight requests before cancelling them.
  std::chrono::seconds drain_timeout{10};
  log_format logs = log_format::text;
};

// What to do with the secrets of the providers' settings and admin_token.
enum class secrets {
  resolve,  // an unset ${ENV} reference is an issue (serve, and anything that sends)
  // An unset ${ENV} reference there stays as its `${NAME}` text: for commands that only read
  // the database (messages, status...), so on-call needs no carrier credentials to read.
  leave_unset,
};

// Loads and checks an engine config file. Throws config_error listing every issue
// (unknown keys, wrong types, missing required keys, unset ${ENV} references, senders routing
// to undefined providers), each with file:line:col.
engine_config load_engine_config(const std::string& path, secrets mode = secrets::resolve);

// Whether `name` can name a node (`node:`, `serve --node`): 1-63 letters, digits, '.', '_', '-'.
bool valid_node_name(const std::string& name);

// The same from YAML text; `name` stands for the file in locations.
engine_config parse_engine_config(const std::string& yaml_text, const std::string& name,
                                  secrets mode = secrets::resolve);

}  // namespace pigeon::config
