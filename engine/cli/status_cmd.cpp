// pigeon status, pigeon messages: read the database directly, so they work with the engine down.
#include <unistd.h>

#include <boost/json.hpp>
#include <iostream>

#include "engine/cli/commands.hpp"
#include "engine/clock.hpp"
#include "engine/phone.hpp"

namespace pigeon::cli {

namespace {

using namespace std::chrono_literals;

struct verdict {
  int code = 0;  // 0 ok, 1 warning, 2 critical
  std::vector<std::string> alerts;
  void raise(int level, std::string text) {
    code = std::max(code, level);
    alerts.push_back(std::move(text));
  }
};

verdict assess(const engine::status_snapshot& s, engine::time_point now) {
  verdict v;
  auto count = [&](const char* state) {
    auto it = s.by_state.find(state);
    return it == s.by_state.end() ? 0 : it->second;
  };
  bool engine_up = s.engine_heartbeat && !s.engine_stopped_at && now - *s.engine_heartbeat < 30s;
  if (s.oldest_due && now - *s.oldest_due > 10min)
    v.raise(engine_up ? 1 : 2, "messages overdue since " + engine::format_iso(*s.oldest_due) +
                                   (engine_up ? "" : " and the engine is not running"));
  if (count("failed") > 0) v.raise(1, std::to_string(count("failed")) + " messages failed");
  if (count("retry") > 0) v.raise(1, std::to_string(count("retry")) + " messages waiting to retry");
  if (s.possible_duplicates > 0)
    v.raise(1, std::to_string(s.possible_duplicates) +
                   " messages resent after an unknown outcome (possible duplicates)");
  return v;
}

int status(const context& ctx) {
  auto cfg = ctx.engine_config(false);
  auto db = ctx.open_store(cfg);
  auto now = engine::system_clock().now();
  auto s = db->status(now);
  auto v = assess(s, now);
  bool engine_up = s.engine_heartbeat && !s.engine_stopped_at && now - *s.engine_heartbeat < 30s;
  if (ctx.json) {
    boost::json::object by_state, out;
    for (const auto& [k, n] : s.by_state) by_state[k] = n;
    boost::json::array campaigns;
    for (const auto& c : s.campaigns) {
      boost::json::object counts;
      for (const auto& [k, n] : c.by_state) counts[k] = n;
      campaigns.push_back({{"name", c.name},
                           {"version", c.version},
                           {"state", c.state},
                           {"messages", std::move(counts)}});
    }
    out["status"] = v.code == 0 ? "ok" : v.code == 1 ? "warning" : "critical";
    out["exit_code"] = v.code;
    out["database"] = ctx.database(cfg);
    out["engine"] = {{"up", engine_up},
                     {"owner", s.engine_owner},
                     {"heartbeat", s.engine_heartbeat
                                       ? boost::json::value(engine::format_iso(*s.engine_heartbeat))
                                       : nullptr}};
    out["contacts"] = s.contacts;
    out["messages"] = std::move(by_state);
    out["oldest_due"] =
        s.oldest_due ? boost::json::value(engine::format_iso(*s.oldest_due)) : nullptr;
    out["possible_duplicates"] = s.possible_duplicates;
    out["campaigns"] = std::move(campaigns);
    boost::json::array alerts;
    for (const auto& a : v.alerts) alerts.push_back(boost::json::string(a));
    out["alerts"] = std::move(alerts);
    std::cout << boost::json::serialize(out) << "\n";
    return v.code;
  }
  bool color = ::isatty(STDOUT_FILENO);
  const char* tag[] = {"OK", "WARNING", "CRITICAL"};
  const char* paint[] = {"\033[32m", "\033[33m", "\033[31m"};
  std::cout << (color ? paint[v.code] : "") << "pigeon " << tag[v.code] << (color ? "\033[0m" : "")
            << "   database " << ctx.database(cfg) << "\n";
  std::cout << "engine    "
            << (engine_up             ? "up (" + s.engine_owner + ")"
                : s.engine_stopped_at ? "stopped at " + engine::format_iso(*s.engine_stopped_at)
                : s.engine_heartbeat  ? "down, last seen " + engine::format_iso(*s.engine_heartbeat)
                                      : std::string("never started"))
            << "\n";
  std::cout << "contacts  " << s.contacts << "\n";
  std::cout << "queue    ";
  for (const auto& [k, n] : s.by_state)
    if (n > 0) std::cout << " " << k << "=" << n;
  std::cout << "\n";
  if (s.oldest_due) std::cout << "oldest due " << engine::format_iso(*s.oldest_due) << "\n";
  std::printf("\n%-28s %4s %-9s %9s %9s %9s %7s %7s\n", "CAMPAIGN", "VER", "STATE", "QUEUED",
              "SUBMITTED", "DELIVERED", "FAILED", "OTHER");
  for (const auto& c : s.campaigns) {
    auto get = [&](const char* k) {
      auto it = c.by_state.find(k);
      return it == c.by_state.end() ? 0LL : static_cast<long long>(it->second);
    };
    long long queued =
        get("scheduled") + get("leased") + get("submitting") + get("retry") + get("deferred");
    long long other = get("undelivered") + get("suppressed") + get("expired");
    std::printf("%-28s %4d %-9s %9lld %9lld %9lld %7lld %7lld\n", c.name.c_str(), c.version,
                c.state.c_str(), queued, get("submitted"), get("delivered"), get("failed"), other);
  }
  if (!v.alerts.empty()) {
    std::cout << "\nalerts\n";
    for (const auto& a : v.alerts) std::cout << "  - " << a << "\n";
  }
  return v.code;
}

int messages(const context& ctx, const std::string& campaign, const std::string& state,
             std::size_t limit) {
  auto cfg = ctx.engine_config(false);
  engine::message_filter f{campaign, std::nullopt, limit};
  if (!state.empty()) {
    f.state = engine::parse_state(state);
    if (!f.state) {
      std::cerr << "pigeon: unknown state `" << state << "`\n";
      return 2;
    }
  }
  auto db = ctx.open_store(cfg);
  auto rows = db->messages(f);
  auto opt_time = [](const std::optional<engine::time_point>& t) {
    return t ? engine::format_iso(*t) : std::string();
  };
  if (ctx.json) {
    boost::json::array out;
    for (const auto& r : rows)
      out.push_back(
          {{"id", r.id},
           {"recipient", r.phone},
           {"campaign", r.campaign},
           {"step", r.step},
           {"variant", r.variant},
           {"state", std::string(engine::to_string(r.state))},
           {"due", engine::format_iso(r.due)},
           {"sent", r.sent_at ? boost::json::value(engine::format_iso(*r.sent_at)) : nullptr},
           {"provider", r.provider},
           {"carrier_id", r.carrier_id},
           {"attempts", r.attempts},
           {"reason", r.reason},
           {"text", r.body}});
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
      "status", "on-call view; exit 0 ok, 1 warning, 2 critical; works with the engine down");
  static bool watch = false;
  st->add_flag("--json", ctx.json, "JSON output");
  st->add_flag("--watch", watch, "refresh every 2 seconds");
  st->callback([&] {
    do {
      if (watch && ::isatty(STDOUT_FILENO)) std::cout << "\033[H\033[2J";
      exit_code = status(ctx);
      if (watch) ::sleep(2);
    } while (watch);
  });
  auto* m = app.add_subcommand("messages", "the message log (times in UTC, ISO 8601)");
  static std::string campaign, state;
  static std::size_t limit = 0;
  m->add_option("--campaign", campaign);
  m->add_option("--state", state);
  m->add_option("--limit", limit, "at most this many rows (0 = all)");
  m->add_flag("--json", ctx.json, "JSON output");
  m->callback([&] { exit_code = messages(ctx, campaign, state, limit); });
}

}  // namespace pigeon::cli
