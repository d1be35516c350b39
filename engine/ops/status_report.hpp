#pragma once

// The on-call verdict: everything `pigeon status` and the admin /status endpoint show, judged
// against the alert thresholds of the engine config. Pure functions over store reads.

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::ops {

enum class alert_level { ok = 0, warning = 1, critical = 2 };

struct alert {
  alert_level level = alert_level::warning;
  std::string name;  // stable id, the runbook's heading (README "Operations")
  std::string text;  // for a person
};

struct status_report {
  std::string database;
  time_point now{};
  status_snapshot snapshot;
  ops_snapshot ops;
  // Bytes the database's file system has available (statvfs f_bavail), when known: a full
  // disk fails every write with "database or disk is full" (alerts disk_full, disk_low).
  std::optional<std::uint64_t> disk_available;
  bool engine_up = false;
  // Whether each of snapshot.nodes is up: it beat within heartbeat_stale and has not stopped.
  std::vector<bool> nodes_up;
  alert_level level = alert_level::ok;  // the worst alert; the exit code of `pigeon status`
  std::vector<alert> alerts;
  // The A/B test of each active campaign that has one, by campaign name (ab_report.hpp).
  std::map<std::string, ab_decision> ab_decisions;
  // Each active lifecycle journey's entries, progress and exits, by campaign name.
  std::map<std::string, journey_stats> journeys;
};

// Below this many bytes available on the database's file system: critical alert disk_full.
inline constexpr std::uint64_t disk_full_bytes = 1024 * 1024;
// Below this many: warning disk_low.
inline constexpr std::uint64_t disk_low_bytes = 100 * 1024 * 1024;

// The bytes available to the process on the file system holding `database` (a file path; its
// folder when it does not exist yet); nullopt for ":memory:", "file:" URIs or when statvfs fails.
std::optional<std::uint64_t> disk_available(const std::string& database);

// Reads `db` (status() and operations()) and the database's free disk space, and judges them.
// Throws store_error as the store does.
status_report build_status_report(store& db, time_point now,
                                  const config::alert_thresholds& thresholds, std::string database);

// Judges a snapshot (exposed for tests); fills engine_up, nodes_up, level and alerts of `report`.
void assess(status_report& report, const config::alert_thresholds& thresholds);

// The JSON of `pigeon status --json` and GET /status.
boost::json::object to_json(const status_report& report);

std::string_view to_string(alert_level level);  // ok | warning | critical

// The lanes array of the detail a running engine stores with its heartbeat
// (dispatcher::heartbeat_detail: the array, or {"lanes": [...], "claim_failing": {...}}), or null.
boost::json::value live_lanes(std::string_view detail);

// `detail` (as above) with the webhook refusals of the last 5-10 minutes added as
// "webhook_refusals": [{"provider", "status", "recent", "total"}] when there are any; `status`
// warns about them (alert webhook_refusals).
std::string with_webhook_refusals(const std::string& detail,
                                  const std::vector<refusal_count>& refusals);

// A listener's connections as the running engine sees them (net::http_server::connections()).
struct listener_connections {
  std::string listener;  // webhooks | admin
  std::size_t open = 0;
  std::size_t cap = 0;
  std::uint64_t refused = 0;      // closed at the cap since start
  bool refused_recently = false;  // in the last minute
};
// `detail` with "connections": [{"listener", "open", "cap", "refused", "refused_recently"}];
// `status` warns (alert connection_cap) for a listener that refused connections recently.
std::string with_connections(const std::string& detail,
                             const std::vector<listener_connections>& listeners);

}  // namespace pigeon::engine::ops
