// pigeon status, pigeon messages: read the database directly, so they work with the engine down.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "engine/campaign/ab_decision.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/cli/commands.hpp"
#include "engine/cli/config_alerts.hpp"
#include "engine/cli/rows_json.hpp"
#include "engine/model/clock.hpp"
#include "engine/model/phone.hpp"
#include "engine/ops/status_report.hpp"

namespace pigeon::engine::cli {

namespace {

using namespace std::chrono_literals;

// Exit code when status cannot be judged at all (no config, unreadable database): distinct from
// 1 (warning) and 2 (critical), as monitoring plugins use 3 for "unknown".
constexpr int exit_unknown = 3;

std::string ago(engine::time_point now, engine::time_point t) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  return std::to_string(s / 3600) + "h ago";
}

std::string rate_line(const engine::attempt_counts& c) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "%lld sent, %lld accepted, %lld delivered, %lld failed, %lld retry",
                static_cast<long long>(c.attempts), static_cast<long long>(c.accepted),
                static_cast<long long>(c.delivered), static_cast<long long>(c.failed),
                static_cast<long long>(c.retried));
  return buf;
}

std::string scalar_text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v.as_double());
    return buf;
  }
  return boost::json::serialize(v);
}

// One line per lane of `lanes` (live_lanes()): its name, then every other field.
void print_lanes(const boost::json::value& lanes, const char* indent) {
  if (!lanes.is_array()) return;
  for (const auto& lane : lanes.as_array()) {
    if (!lane.is_object()) continue;
    const auto& o = lane.as_object();
    std::cout << indent << (o.contains("name") ? scalar_text(o.at("name")) : "?");
    for (const auto& [k, v] : o)
      if (k != "name") std::cout << "  " << std::string(k) << "=" << scalar_text(v);
    std::cout << "\n";
  }
}

// The terminal view: what is wrong first, then the figures that explain it.
void render(const ops::status_report& r, bool color) {
  const auto& s = r.snapshot;
  int code = static_cast<int>(r.level);
  const char* tag[] = {"OK", "WARNING", "CRITICAL"};
  const char* paint[] = {"\033[32m", "\033[33m", "\033[31m"};
  auto painted = [&](int level, const std::string& text) {
    return color ? std::string(paint[level]) + text + "\033[0m" : text;
  };
  std::cout << painted(code, std::string("pigeon ") + tag[code]) << "   "
            << engine::format_iso(r.now) << "   database " << r.database << "\n";
  for (const auto& a : r.alerts)
    std::cout << "  " << painted(static_cast<int>(a.level), tag[static_cast<int>(a.level)]) << " "
              << a.name << ": " << a.text << "\n";
  std::cout << "\nengine      "
            << (r.engine_up
                    ? "up (" + s.engine_owner + "), heartbeat " + ago(r.now, *s.engine_heartbeat)
                : s.engine_stopped_at ? "stopped cleanly " + ago(r.now, *s.engine_stopped_at)
                : s.engine_heartbeat  ? "DOWN, last heartbeat " + ago(r.now, *s.engine_heartbeat)
                                      : std::string("never started"))
            << "\n";
  std::cout << "queue      ";
  for (const auto& [k, n] : s.by_state)
    if (n > 0) std::cout << " " << k << "=" << n;
  if (s.oldest_due) std::cout << "   oldest due " << ago(r.now, *s.oldest_due);
  std::cout << "\n";
  std::cout << "last 1 min  " << rate_line(r.ops.last_minute) << "\n";
  std::cout << "last 1 h    " << rate_line(r.ops.last_hour) << "\n";
  std::cout << "contacts    " << s.contacts << "\n";

  if (!r.ops.providers.empty()) {
    std::printf("\n%-16s %8s %8s %7s %9s\n", "PROVIDER", "SENT/1m", "SENT/1h", "ERR/1h", "P99 ms");
    for (const auto& p : r.ops.providers) {
      char p99[32] = "-";
      if (p.p99_latency_ms) std::snprintf(p99, sizeof p99, "%.0f", *p.p99_latency_ms);
      std::printf("%-16s %8lld %8lld %6.1f%% %9s\n", p.name.c_str(),
                  static_cast<long long>(p.last_minute.attempts),
                  static_cast<long long>(p.last_hour.attempts), p.last_hour.error_rate() * 100,
                  p99);
    }
  }
  // The running engine's lanes, as it last stored them (rate, circuit, backlog...); with
  // several nodes (PostgreSQL), each node's under it.
  if (s.nodes.size() > 1) {
    std::cout << "\nNODES\n";
    for (std::size_t i = 0; i < s.nodes.size(); ++i) {
      const auto& n = s.nodes[i];
      const bool up = i < r.nodes_up.size() && r.nodes_up[i];
      std::printf("  %-24s pid %-8lld %-8s heartbeat %s\n", n.name.c_str(),
                  static_cast<long long>(n.pid),
                  up             ? "up"
                  : n.stopped_at ? "stopped"
                                 : "DOWN",
                  ago(r.now, n.heartbeat).c_str());
      if (up) print_lanes(ops::live_lanes(n.detail), "    ");
    }
  } else if (r.engine_up) {
    auto lanes = ops::live_lanes(r.ops.lane_detail);
    if (lanes.is_array() && !lanes.as_array().empty()) std::cout << "\nLANES (live)\n";
    print_lanes(lanes, "  ");
  }

  std::printf("\n%-24s %4s %-9s %9s %9s %9s %7s %7s\n", "CAMPAIGN", "VER", "STATE", "QUEUED",
              "SUBMITTED", "DELIVERED", "FAILED", "OTHER");
  for (const auto& c : s.campaigns) {
    auto get = [&](const char* k) {
      auto it = c.by_state.find(k);
      return it == c.by_state.end() ? 0LL : static_cast<long long>(it->second);
    };
    long long queued =
        get("scheduled") + get("leased") + get("submitting") + get("retry") + get("deferred");
    long long other = get("undelivered") + get("suppressed") + get("expired");
    std::printf("%-24s %4d %-9s %9lld %9lld %9lld %7lld %7lld\n", c.name.c_str(), c.version,
                c.state.c_str(), queued, get("submitted"), get("delivered"), get("failed"), other);
    for (const auto& f : r.ops.campaigns) {
      if (f.name != c.name) continue;
      for (const auto& v : f.variants) {
        std::printf("  %-16s %-4s sent %lld of %lld, %lld delivered, %lld failed", v.step.c_str(),
                    v.variant.c_str(), static_cast<long long>(v.sent),
                    static_cast<long long>(v.total), static_cast<long long>(v.delivered),
                    static_cast<long long>(v.failed));
        if (r.ops.replies_table) std::printf(", %lld replies", static_cast<long long>(v.replies));
        std::printf("\n");
      }
      if (!f.replies.empty()) {
        std::cout << "  replies:";
        for (const auto& [k, n] : f.replies) std::cout << " " << k << "=" << n;
        std::cout << "\n";
      }
      if (f.opt_outs) std::cout << "  opt-outs: " << *f.opt_outs << "\n";
    }
    if (auto d = r.ab_decisions.find(c.name); d != r.ab_decisions.end())
      std::cout << "  " << campaign::describe_ab_decision(d->second) << "\n";
    if (auto j = r.journeys.find(c.name); j != r.journeys.end())
      std::cout << campaign::describe_journey(j->second, "  ");
  }
  for (auto [title, m] : {std::pair{"deferred", &r.ops.deferred_by_reason},
                          std::pair{"suppressed", &r.ops.suppressed_by_reason}}) {
    if (m->empty()) continue;
    std::cout << "\n" << title << " by reason\n";
    for (const auto& [reason, n] : *m) std::cout << "  " << n << "  " << reason << "\n";
  }
}

int status(const context& ctx) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto path = ctx.database_label(cfg);
  auto db = ctx.open_store(cfg);  // never creates one: a missing database is unknown (exit 3)
  auto report = ops::build_status_report(*db, engine::system_clock().now(), cfg.alerts, path);
  add_config_alerts(report, cfg);
  if (ctx.json) {
    std::cout << boost::json::serialize(ops::to_json(report)) << "\n";
  } else {
    render(report, ::isatty(STDOUT_FILENO));
  }
  return static_cast<int>(report.level);
}

// status, with every failure to read turned into a clear message and exit 3.
int guarded_status(const context& ctx) {
  try {
    return status(ctx);
  } catch (const config::config_error& e) {
    print_issues(e);
  } catch (const engine::store_error& e) {
    std::cerr << "pigeon: database: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "pigeon: " << e.what() << "\n";
  }
  return exit_unknown;
}

// "scheduled, leased, ...": every state --state takes.
std::string state_names() {
  std::string out;
  for (auto s : engine::all_states) out += (out.empty() ? "" : ", ") + std::string(to_string(s));
  return out;
}

struct message_options {
  std::string campaign, state, phone;
  std::size_t limit = 0;
};

int messages(const context& ctx, const message_options& opts) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  engine::message_filter f{opts.campaign, std::nullopt, opts.limit};
  if (!opts.state.empty()) {
    f.state = engine::parse_state(opts.state);
    if (!f.state) {
      std::cerr << "pigeon: unknown state `" << opts.state << "`; expected one of " << state_names()
                << "\n";
      return 2;
    }
  }
  if (!opts.phone.empty()) {
    auto n = engine::normalize_phone(opts.phone, cfg.default_region);
    if (!n.error.empty()) {
      std::cerr << "pigeon: --phone " << opts.phone << ": " << n.error << "\n";
      return 2;
    }
    f.phone = n.e164;
  }
  auto db = ctx.open_store(cfg);
  auto rows = db->messages(f);
  auto opt_time = [](const std::optional<engine::time_point>& t) {
    return t ? engine::format_iso(*t) : std::string();
  };
  if (ctx.json) {
    boost::json::array out;
    for (const auto& r : rows) out.push_back(message_json(r));
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  std::printf("%-8s %-16s %-20s %-16s %-3s %-11s %-24s %-24s %-10s %s\n", "ID", "RECIPIENT",
              "CAMPAIGN", "STEP", "VAR", "STATE", "DUE", "SENT", "PROVIDER", "REASON");
  for (const auto& r : rows)
    std::printf("%-8lld %-16s %-20s %-16s %-3s %-11s %-24s %-24s %-10s %s\n",
                static_cast<long long>(r.id), engine::mask_phone(r.phone).c_str(),
                r.campaign.c_str(), r.step.c_str(), r.variant.c_str(),
                std::string(engine::to_string(r.state)).c_str(), engine::format_iso(r.due).c_str(),
                opt_time(r.sent_at).c_str(), r.provider.c_str(), r.reason.c_str());
  return 0;
}

}  // namespace

void register_status(CLI::App& app, context& ctx, int& exit_code) {
  auto* st = app.add_subcommand(
      "status",
      "on-call view; exit 0 ok, 1 warning, 2 critical, 3 unknown (cannot read); works with the "
      "engine down");
  static bool watch = false;
  st->add_flag("--json", ctx.json, "JSON output");
  st->add_flag("--watch", watch, "refresh every 2 seconds");
  st->callback([&] {
    do {
      if (watch && ::isatty(STDOUT_FILENO)) std::cout << "\033[H\033[2J";
      exit_code = guarded_status(ctx);
      if (watch) ::sleep(2);
    } while (watch);
  });
  auto* m = app.add_subcommand("messages", "the message log (times in UTC, ISO 8601)");
  static message_options opts;
  m->add_option("--campaign", opts.campaign, "only this campaign's messages");
  m->add_option("--state", opts.state, "only messages in this state: " + state_names());
  m->add_option("--phone", opts.phone,
                "only this recipient's messages (any format the default_region reads)");
  m->add_option("--limit", opts.limit, "at most this many rows (0 = all)");
  m->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  m->callback([&] { exit_code = messages(ctx, opts); });
}

}  // namespace pigeon::engine::cli
