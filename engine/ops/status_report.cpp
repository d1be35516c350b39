#include "engine/ops/status_report.hpp"

#include <sys/statvfs.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>

#include "engine/campaign/ab_decision.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/ops/io_fault.hpp"

namespace pigeon::engine::ops {

namespace {

// Refused webhooks in the last 5-10 minutes that make `status` warn: a few are a misconfigured
// carrier retrying; this many are a flood or a forgery attempt.
constexpr std::int64_t webhook_refusals_warning = 10;

using namespace std::chrono_literals;

// Below this many finished attempts in the hour, a failure rate says little: no alert.
constexpr std::int64_t min_attempts_for_rate = 10;

std::string seconds_text(std::chrono::milliseconds d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

std::string bytes_text(std::uint64_t n) {
  if (n < 10 * 1024) return std::to_string(n) + " bytes";
  if (n < 10 * 1024 * 1024) return std::to_string(n / 1024) + " KiB";
  return std::to_string(n / (1024 * 1024)) + " MiB";
}

std::string percent(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", rate * 100);
  return buf;
}

boost::json::value opt_time(const std::optional<time_point>& t) {
  return t ? boost::json::value(format_iso(*t)) : boost::json::value(nullptr);
}

boost::json::object counts_json(const attempt_counts& c) {
  return {{"attempts", c.attempts},      {"accepted", c.accepted}, {"delivered", c.delivered},
          {"failed", c.failed},          {"retried", c.retried},   {"pending", c.pending},
          {"error_rate", c.error_rate()}};
}

}  // namespace

namespace {

// `detail` (an object, or the bare lanes array of older engines) with `key` set to `values`.
std::string with_detail(const std::string& detail, const char* key, boost::json::array values) {
  boost::system::error_code ec;
  auto value = detail.empty() ? boost::json::value() : boost::json::parse(detail, ec);
  boost::json::object out;
  if (!ec && value.is_object()) out = std::move(value.get_object());
  if (!ec && value.is_array()) out["lanes"] = std::move(value);
  out[key] = std::move(values);
  return boost::json::serialize(out);
}

// Field `key` of a detail object as text ("?" when missing or of another type).
std::string field_text(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (v && v->is_string()) return std::string(v->get_string());
  if (v && v->is_int64()) return std::to_string(v->get_int64());
  return "?";
}

}  // namespace

std::string with_webhook_refusals(const std::string& detail,
                                  const std::vector<refusal_count>& refusals) {
  boost::json::array recent;
  for (const auto& r : refusals) {
    if (r.recent == 0) continue;
    recent.push_back(boost::json::object{{"provider", r.provider},
                                         {"status", r.status},
                                         {"recent", static_cast<std::int64_t>(r.recent)},
                                         {"total", static_cast<std::int64_t>(r.total)}});
  }
  return recent.empty() ? detail : with_detail(detail, "webhook_refusals", std::move(recent));
}

std::string with_connections(const std::string& detail,
                             const std::vector<listener_connections>& listeners) {
  boost::json::array values;
  for (const auto& l : listeners) {
    values.push_back(boost::json::object{{"listener", l.listener},
                                         {"open", static_cast<std::int64_t>(l.open)},
                                         {"cap", static_cast<std::int64_t>(l.cap)},
                                         {"refused", static_cast<std::int64_t>(l.refused)},
                                         {"refused_recently", l.refused_recently}});
  }
  return values.empty() ? detail : with_detail(detail, "connections", std::move(values));
}

boost::json::value live_lanes(std::string_view detail) {
  if (detail.empty()) return nullptr;
  boost::system::error_code ec;
  auto value = boost::json::parse(detail, ec);
  if (ec) return nullptr;
  if (value.is_object()) {
    auto* lanes = value.get_object().if_contains("lanes");
    return lanes ? *lanes : boost::json::value(nullptr);
  }
  return value;
}

std::string_view to_string(alert_level level) {
  switch (level) {
    case alert_level::ok:
      return "ok";
    case alert_level::warning:
      return "warning";
    case alert_level::critical:
      return "critical";
  }
  return "critical";
}

void assess(status_report& r, const config::alert_thresholds& t) {
  const auto& s = r.snapshot;
  auto raise = [&](alert_level level, std::string name, std::string text) {
    r.level = std::max(r.level, level);
    r.alerts.push_back({level, std::move(name), std::move(text)});
  };
  auto count = [&](const char* state) {
    auto it = s.by_state.find(state);
    return it == s.by_state.end() ? std::int64_t{0} : it->second;
  };
  auto age = [&](time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(r.now - t);
  };
  // A full disk fails every write, the heartbeat's too: said first, and named in engine_down.
  const bool disk_full = r.disk_available && *r.disk_available < disk_full_bytes;
  if (r.disk_available && *r.disk_available < disk_low_bytes) {
    raise(disk_full ? alert_level::critical : alert_level::warning,
          disk_full ? "disk_full" : "disk_low",
          "the file system holding " + r.database + " has " + bytes_text(*r.disk_available) +
              " available" +
              (disk_full ? ": the engine's writes fail (\"database or disk is full\"), nothing "
                           "is claimed, sent or recorded until space is freed"
                         : ": the engine stops when it is full"));
  }
  bool heartbeat_fresh = s.engine_heartbeat && age(*s.engine_heartbeat) < t.heartbeat_stale;
  r.engine_up = heartbeat_fresh && !s.engine_stopped_at;
  r.nodes_up.clear();
  for (const auto& n : s.nodes)
    r.nodes_up.push_back(!n.stopped_at && age(n.heartbeat) < t.heartbeat_stale);
  if (auto fault = r.database.empty() ? std::nullopt : io_fault_reason(r.database)) {
    // The last engine stopped on an I/O fault of the database's files (engine/ops/io_fault.hpp),
    // and none started since (a start clears the reason).
    r.engine_up = false;
    raise(alert_level::critical, "engine_down", *fault);
  } else if (s.engine_heartbeat && !s.engine_stopped_at && !heartbeat_fresh) {
    raise(alert_level::critical, "engine_down",
          "engine " + s.engine_owner + " stopped beating " +
              seconds_text(age(*s.engine_heartbeat)) + " ago without a clean stop (" +
              (disk_full ? "its disk is full: disk_full" : "crashed or hung") + ")");
  }
  // Several nodes (PostgreSQL): one that stopped beating without a clean stop while others
  // run. A survivor recovers its leases and unknown outcomes (node_watch); on-call still wants
  // to know a node is gone. With no node running, engine_down above says it all.
  if (r.engine_up) {
    for (std::size_t i = 0; i < s.nodes.size(); ++i) {
      const auto& n = s.nodes[i];
      if (r.nodes_up[i] || n.stopped_at) continue;
      raise(alert_level::warning, "node_down",
            "node " + n.name + " stopped beating " + seconds_text(age(n.heartbeat)) +
                " ago without a clean stop; the running nodes take over its messages (possible "
                "duplicates are flagged maybe_duplicate)");
    }
  }
  if (s.oldest_due && age(*s.oldest_due) > t.oldest_due_warning) {
    bool critical = age(*s.oldest_due) > t.oldest_due_critical || !r.engine_up;
    raise(critical ? alert_level::critical : alert_level::warning, "oldest_due",
          "messages overdue by " + seconds_text(age(*s.oldest_due)) + " (due since " +
              format_iso(*s.oldest_due) + ")" + (r.engine_up ? "" : " and no engine is running"));
  }
  const auto& hour = r.ops.last_hour;
  if (hour.attempts - hour.pending >= min_attempts_for_rate) {
    double rate = hour.error_rate();
    if (rate > t.failure_rate_critical || rate > t.failure_rate_warning) {
      raise(rate > t.failure_rate_critical ? alert_level::critical : alert_level::warning,
            "failure_rate",
            "send error rate " + percent(rate) + " over the last hour (" +
                std::to_string(hour.failed) + " failed, " + std::to_string(hour.retried) +
                " to retry, of " + std::to_string(hour.attempts - hour.pending) + ")");
    }
  }
  if (count("retry") > t.retry_backlog_warning) {
    raise(alert_level::warning, "retry_backlog",
          std::to_string(count("retry")) + " messages waiting to retry (threshold " +
              std::to_string(t.retry_backlog_warning) + ")");
  }
  if (r.engine_up) {
    boost::system::error_code ec;
    auto detail = r.ops.lane_detail.empty() ? boost::json::value()
                                            : boost::json::parse(r.ops.lane_detail, ec);
    const auto* failing =
        !ec && detail.is_object() ? detail.get_object().if_contains("claim_failing") : nullptr;
    if (failing && failing->is_object()) {
      const auto& f = failing->get_object();
      raise(alert_level::critical, "dispatch_stalled",
            "claiming due messages has failed " + field_text(f, "failures") +
                " times in a row since " + field_text(f, "since") + ": nothing is being sent (" +
                field_text(f, "error") + ")");
    }
    const auto* unrecorded = !ec && detail.is_object()
                                 ? detail.get_object().if_contains("outcomes_unrecorded")
                                 : nullptr;
    if (unrecorded && unrecorded->is_object()) {
      const auto& u = unrecorded->get_object();
      raise(alert_level::critical, "outcomes_unrecorded",
            "the store refuses to record the outcome of " + field_text(u, "messages") +
                " message(s) since " + field_text(u, "since") +
                ": the engine keeps trying; until then they stay submitting (" +
                field_text(u, "error") + ")");
    }
    const auto* connections =
        !ec && detail.is_object() ? detail.get_object().if_contains("connections") : nullptr;
    if (connections && connections->is_array()) {
      for (const auto& v : connections->get_array()) {
        if (!v.is_object()) continue;
        const auto& o = v.get_object();
        auto* recently = o.if_contains("refused_recently");
        if (!recently || !recently->is_bool() || !recently->get_bool()) continue;
        auto num = [&](const char* key) {
          auto* n = o.if_contains(key);
          return n && n->is_int64() ? std::to_string(n->get_int64()) : std::string("?");
        };
        auto* name = o.if_contains("listener");
        raise(alert_level::warning, "connection_cap",
              (name && name->is_string() ? std::string(name->get_string()) : std::string("?")) +
                  " listener at its cap of " + num("cap") + " open connections: " + num("refused") +
                  " refused since start, some in the last minute (idle or slow clients hold "
                  "them; find them, or raise listen.max_connections)");
      }
    }
    const auto* refused =
        !ec && detail.is_object() ? detail.get_object().if_contains("webhook_refusals") : nullptr;
    if (refused && refused->is_array()) {
      std::int64_t recent = 0;
      std::string which;
      for (const auto& v : refused->get_array()) {
        if (!v.is_object()) continue;
        const auto& o = v.get_object();
        auto* n = o.if_contains("recent");
        auto* p = o.if_contains("provider");
        auto* st = o.if_contains("status");
        if (!n || !n->is_int64() || n->get_int64() == 0) continue;
        recent += n->get_int64();
        which += std::string(which.empty() ? "" : ", ") +
                 (p && p->is_string() ? std::string(p->get_string()) : "?") + " " +
                 (st && st->is_int64() ? std::to_string(st->get_int64()) : "?") + ": " +
                 std::to_string(n->get_int64());
      }
      if (recent >= webhook_refusals_warning)
        raise(alert_level::warning, "webhook_refusals",
              std::to_string(recent) + " webhooks refused in the last 5-10 min (" + which +
                  "): forged, replayed or misconfigured callbacks");
    }
  }
  if (count("failed") > 0)
    raise(alert_level::warning, "failed_messages",
          std::to_string(count("failed")) + " messages failed");
  if (s.possible_duplicates > 0)
    raise(alert_level::warning, "possible_duplicates",
          std::to_string(s.possible_duplicates) +
              " messages resent after an unknown outcome (possible duplicates)");
}

std::optional<std::uint64_t> disk_available(const std::string& database) {
  if (database.empty() || database == ":memory:" || database.starts_with("file:"))
    return std::nullopt;
  std::error_code ec;
  auto path = std::filesystem::path(database);
  if (!std::filesystem::exists(path, ec)) path = path.parent_path();
  if (path.empty()) path = ".";
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

status_report build_status_report(store& db, time_point now,
                                  const config::alert_thresholds& thresholds,
                                  std::string database) {
  status_report r;
  r.database = std::move(database);
  r.now = now;
  r.snapshot = db.status(now);
  r.ops = db.operations(now);
  r.disk_available = disk_available(r.database);
  for (const auto& c : r.snapshot.campaigns) {
    if (c.state != "active") continue;
    if (auto d = db.find_ab_test(c.name)) r.ab_decisions.emplace(c.name, std::move(*d));
    // A journey has a clock from its apply on.
    if (db.journey_clock(c.name)) r.journeys.emplace(c.name, db.journey_statistics(c.name, now));
  }
  assess(r, thresholds);
  return r;
}

boost::json::object to_json(const status_report& r) {
  const auto& s = r.snapshot;
  boost::json::object out;
  out["status"] = to_string(r.level);
  out["exit_code"] = static_cast<int>(r.level);
  out["database"] = r.database;
  out["now"] = format_iso(r.now);
  out["engine"] = {{"up", r.engine_up},
                   {"owner", s.engine_owner},
                   {"heartbeat", opt_time(s.engine_heartbeat)},
                   {"stopped_at", opt_time(s.engine_stopped_at)}};
  out["disk_available_bytes"] =
      r.disk_available ? boost::json::value(static_cast<std::int64_t>(*r.disk_available))
                       : boost::json::value(nullptr);
  out["contacts"] = s.contacts;
  boost::json::object by_state;
  for (const auto& [k, n] : s.by_state) by_state[k] = n;
  out["messages"] = std::move(by_state);
  out["oldest_due"] = opt_time(s.oldest_due);
  out["possible_duplicates"] = s.possible_duplicates;
  out["rates"] = {{"last_minute", counts_json(r.ops.last_minute)},
                  {"last_hour", counts_json(r.ops.last_hour)}};
  boost::json::array providers;
  for (const auto& p : r.ops.providers) {
    providers.push_back({{"name", p.name},
                         {"last_minute", counts_json(p.last_minute)},
                         {"last_hour", counts_json(p.last_hour)},
                         {"p99_latency_ms", p.p99_latency_ms ? boost::json::value(*p.p99_latency_ms)
                                                             : boost::json::value(nullptr)}});
  }
  out["providers"] = std::move(providers);
  // The running engine's own view of its lanes, as it stored it (see heartbeat_detail).
  out["lanes"] = live_lanes(r.ops.lane_detail);
  // Every engine sharing the database (one for SQLite), each with its own lanes.
  boost::json::array nodes;
  for (std::size_t i = 0; i < s.nodes.size(); ++i) {
    const auto& n = s.nodes[i];
    nodes.push_back(
        {{"name", n.name},
         {"pid", n.pid},
         {"up", i < r.nodes_up.size() && r.nodes_up[i]},
         {"heartbeat", format_iso(n.heartbeat)},
         {"heartbeat_age_seconds",
          std::chrono::duration_cast<std::chrono::milliseconds>(r.now - n.heartbeat).count() /
              1000.0},
         {"stopped_at", opt_time(n.stopped_at)},
         {"lanes", n.stopped_at ? boost::json::value(nullptr) : live_lanes(n.detail)}});
  }
  out["nodes"] = std::move(nodes);
  boost::json::array campaigns;
  for (const auto& c : s.campaigns) {
    boost::json::object counts;
    for (const auto& [k, n] : c.by_state) counts[k] = n;
    boost::json::object entry{{"name", c.name},
                              {"version", c.version},
                              {"state", c.state},
                              {"messages", std::move(counts)}};
    auto decision = r.ab_decisions.find(c.name);
    entry["ab_decision"] = decision == r.ab_decisions.end()
                               ? boost::json::value(nullptr)
                               : campaign::ab_decision_json(decision->second);
    if (auto j = r.journeys.find(c.name); j != r.journeys.end())
      entry["journey"] = campaign::journey_json(j->second);
    for (const auto& f : r.ops.campaigns) {
      if (f.name != c.name) continue;
      boost::json::array variants;
      for (const auto& v : f.variants)
        variants.push_back({{"step", v.step},
                            {"variant", v.variant},
                            {"total", v.total},
                            {"sent", v.sent},
                            {"delivered", v.delivered},
                            {"failed", v.failed},
                            {"replies", v.replies}});
      entry["steps"] = std::move(variants);
      if (r.ops.replies_table) {
        boost::json::object replies;
        for (const auto& [k, n] : f.replies) replies[k] = n;
        entry["replies"] = std::move(replies);
      }
      if (f.opt_outs) entry["opt_outs"] = *f.opt_outs;
    }
    campaigns.push_back(std::move(entry));
  }
  out["campaigns"] = std::move(campaigns);
  boost::json::object deferred, suppressed;
  for (const auto& [k, n] : r.ops.deferred_by_reason) deferred[k] = n;
  for (const auto& [k, n] : r.ops.suppressed_by_reason) suppressed[k] = n;
  out["deferred_by_reason"] = std::move(deferred);
  out["suppressed_by_reason"] = std::move(suppressed);
  boost::json::array alerts, details;
  for (const auto& a : r.alerts) {
    alerts.push_back(boost::json::string(a.text));
    details.push_back({{"level", to_string(a.level)}, {"name", a.name}, {"text", a.text}});
  }
  out["alerts"] = std::move(alerts);
  out["alert_details"] = std::move(details);
  return out;
}

}  // namespace pigeon::engine::ops
