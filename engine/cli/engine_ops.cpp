#include "engine/cli/engine_ops.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <unordered_map>

#include "config/ops_config.hpp"
#include "engine/cli/config_alerts.hpp"
#include "engine/net/http_server.hpp"
#include "engine/ops/admin_handler.hpp"
#include "engine/ops/log_format.hpp"
#include "engine/ops/status_report.hpp"
#include "engine/report/report.hpp"

namespace pigeon::engine::cli {

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Submit round-trip buckets, seconds.
const std::vector<double> latency_buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1,    2.5,   5,    10,  30};

asio::ip::tcp::endpoint parse_endpoint(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  auto port = static_cast<std::uint16_t>(std::stoi(host_port.substr(colon + 1)));
  return {asio::ip::make_address(host), port};
}

}  // namespace

engine_ops::engine_ops(asio::io_context& ioc, config::engine_config cfg, std::string database,
                       engine::async_store& store, std::string owner, engine::async_store* reader)
    : ioc_(ioc),
      cfg_(std::move(cfg)),
      database_(std::move(database)),
      store_(store),
      reader_(reader ? *reader : store),
      owner_(std::move(owner)),
      refresh_timer_(ioc),
      hup_(ioc, SIGHUP) {}

engine_ops::~engine_ops() {
  *alive_ = false;
  stop();
}

void engine_ops::instrument(dispatch::dispatcher_options& options) {
  // Called once per carrier answer: the lane's series are looked up in the registry (label
  // strings built, maps searched) the first time only, then kept by lane name. Lanes are a
  // fixed set from the config, and the registry's references stay valid for its lifetime.
  struct lane_series {
    ops::metric_histogram* latency = nullptr;
    ops::metric_counter* ok = nullptr;      // made on the first such answer, as before
    ops::metric_counter* failed = nullptr;  // (no ok="false" series until a failure)
  };
  auto by_lane = std::make_shared<std::unordered_map<std::string, lane_series>>();
  options.on_response = [this, by_lane](const std::string& lane, std::chrono::milliseconds latency,
                                        bool ok) {
    auto it = by_lane->find(lane);
    if (it == by_lane->end()) {
      lane_series s;
      s.latency = &metrics_.histogram("pigeon_submit_latency_seconds",
                                      "Round trip of submit requests to the carrier, by provider.",
                                      latency_buckets, {{"provider", lane}});
      it = by_lane->emplace(lane, s).first;
    }
    it->second.latency->observe(static_cast<double>(latency.count()) / 1000.0);
    ops::metric_counter*& responses = ok ? it->second.ok : it->second.failed;
    if (!responses)
      responses =
          &metrics_.counter("pigeon_carrier_responses_total",
                            "Carrier answers by provider; ok=false for 5xx and transport failures.",
                            {{"provider", lane}, {"ok", ok ? "true" : "false"}});
    responses->inc();
  };
}

std::uint16_t engine_ops::start(dispatch::dispatcher& d) {
  dispatcher_ = &d;
  running_ = true;
  if (!config::is_loopback_address(cfg_.listen_admin) && cfg_.admin_token.empty())
    throw std::runtime_error("refusing to serve the admin API on " + cfg_.listen_admin +
                             " (not loopback) without admin_token");
  ops::admin_sources sources;
  sources.token = cfg_.admin_token;
  sources.metrics = [this] { return metrics_.render(); };
  sources.healthy = [this] { return running_; };
  sources.problem = [this] {
    auto failing = dispatcher_ ? dispatcher_->claim_failing() : std::nullopt;
    return failing ? "claiming due messages has failed " + std::to_string(failing->failures) +
                         " times in a row: " + failing->error
                   : std::string();
  };
  sources.status = [this]() -> asio::awaitable<boost::json::object> {
    std::function<boost::json::object(engine::store&)> job = [cfg = cfg_,
                                                              db = database_](engine::store& s) {
      auto report = ops::build_status_report(s, engine::system_clock().now(), cfg.alerts, db);
      add_config_alerts(report, cfg);  // as `pigeon status` shows them
      return ops::to_json(report);
    };
    auto op = reader_.async_run<boost::json::object>(std::move(job), asio::use_awaitable);
    co_return co_await std::move(op);
  };
  sources.pages =
      [this](std::optional<std::string> campaign) -> asio::awaitable<std::pair<int, std::string>> {
    std::function<std::pair<int, std::string>(engine::store&)> job =
        [prices = report::prices_from(cfg_), campaign](engine::store& s) {
          return report::report_page(s, campaign, prices, engine::system_clock().now());
        };
    auto op = reader_.async_run<std::pair<int, std::string>>(std::move(job), asio::use_awaitable);
    co_return co_await std::move(op);
  };
  auto shared = std::make_shared<ops::admin_sources>(std::move(sources));
  // Filled once the listener is bound (its port may be 0 in the config); requests are served on
  // this thread's loop, which runs only after start() returns.
  auto hosts = std::make_shared<std::vector<std::string>>();
  net::server_options so;
  so.name = "admin";
  so.max_connections = admin_max_connections;
  admin_ = std::make_unique<net::http_server>(
      ioc_.get_executor(),
      [shared, hosts,
       api = api_routes](net::http_request_t req) -> asio::awaitable<net::http_response_t> {
        std::string_view target(req.target().data(), req.target().size());
        const unsigned version = req.version();
        const bool keep_alive = req.keep_alive();
        if (auto refused = ops::refuse_cross_site(req, *hosts)) co_return std::move(*refused);
        if (api && target.starts_with("/v1/")) {
          if (auto refused = ops::refuse_unauthorized(req, shared->token))
            co_return std::move(*refused);
          auto op = api(std::move(req));
          auto res = co_await std::move(op);
          if (res) co_return std::move(*res);
        } else {
          auto op = ops::handle_admin(std::move(req), *shared);
          auto res = co_await std::move(op);
          if (res) co_return std::move(*res);
        }
        net::http_response_t nf{boost::beast::http::status::not_found, version};
        nf.keep_alive(keep_alive);
        nf.set(boost::beast::http::field::content_type, "application/json");
        nf.body() = "{\"error\":\"no such admin endpoint\"}\n";
        nf.prepare_payload();
        co_return nf;
      },
      so);
  std::uint16_t port = 0;
  try {
    port = admin_->start(parse_endpoint(cfg_.listen_admin));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve the admin API on " + cfg_.listen_admin + ": " +
                             e.what());
  }
  auto host = cfg_.listen_admin.substr(0, cfg_.listen_admin.rfind(':'));
  *hosts = ops::admin_host_names(host, port, cfg_.admin_hosts);
  spdlog::info("admin listening on {}:{} (/, /reports, /metrics, /healthz, /status{})", host, port,
               api_routes ? ", /v1/contacts, /v1/events" : "");
  if (!lane_detail) {
    lane_detail = [this] {
      boost::json::array lanes;
      for (const auto& [name, p] : cfg_.providers)
        lanes.push_back(
            {{"name", name}, {"rate_limit", p.rate_per_second}, {"concurrency", p.concurrency}});
      return boost::json::serialize(lanes);
    };
  }
  refresh();
  watch_reload();
  return port;
}

void engine_ops::stop() {
  running_ = false;
  refresh_timer_.cancel();
  boost::system::error_code ec;
  hup_.cancel(ec);
  if (admin_) admin_->stop();
}

// Every 5 s (less often when the reads take over 250 ms): dispatcher counters into metrics, queue
// gauges and lane detail from/to the store.
void engine_ops::refresh() {
  if (!running_) return;
  if (dispatcher_) {
    const auto& st = dispatcher_->stats();
    auto bump = [&](const char* outcome, std::int64_t now, std::int64_t before) {
      metrics_
          .counter("pigeon_dispatched_total", "Messages handled by the dispatcher, by outcome.",
                   {{"outcome", outcome}})
          .inc(static_cast<double>(now - before));
    };
    bump("claimed", st.claimed, last_stats_.claimed);
    bump("submitted", st.submitted, last_stats_.submitted);
    bump("failed", st.failed, last_stats_.failed);
    bump("retried", st.retried, last_stats_.retried);
    bump("expired", st.expired, last_stats_.expired);
    bump("deferred", st.deferred, last_stats_.deferred);
    last_stats_ = st;
    metrics_.gauge("pigeon_in_flight", "Messages claimed and not yet answered.")
        .set(dispatcher_->in_flight());
  }
  auto refusals = webhook_refusals ? webhook_refusals() : std::vector<engine::refusal_count>{};
  for (const auto& r : refusals) {
    auto& c = metrics_.counter(
        "pigeon_webhook_refusals_total",
        "Webhooks refused, by provider and HTTP status (forged, replayed or malformed).",
        {{"provider", r.provider}, {"status", std::to_string(r.status)}});
    c.inc(static_cast<double>(r.total) - c.value());
  }
  std::vector<ops::listener_connections> listeners;
  auto add_listener = [&](const char* name, const net::connection_stats& c) {
    bool recently = c.refused > 0 &&
                    std::chrono::steady_clock::now() - c.last_refused < std::chrono::minutes(1);
    listeners.push_back({name, c.open, c.cap, c.refused, recently});
  };
  if (webhook_connections) add_listener("webhooks", webhook_connections());
  if (admin_) add_listener("admin", admin_->connections());
  auto detail = ops::with_webhook_refusals(lane_detail ? lane_detail() : std::string(), refusals);
  if (std::any_of(listeners.begin(), listeners.end(), [](const auto& l) { return l.refused > 0; }))
    detail = ops::with_connections(detail, listeners);
  if (!detail.empty()) {
    std::function<void(engine::store&)> write = [owner = owner_, detail](engine::store& s) {
      s.heartbeat_detail(owner, detail);
    };
    store_.async_run<void>(std::move(write),
                           asio::bind_executor(ioc_.get_executor(), [](std::exception_ptr e) {
                             if (!e) return;
                             try {
                               std::rethrow_exception(e);
                             } catch (const std::exception& ex) {
                               spdlog::warn("storing the lanes' state failed: {}", ex.what());
                             }
                           }));
  }
  std::function<std::pair<engine::status_snapshot, engine::ops_snapshot>(engine::store&)> job =
      [](engine::store& s) {
        auto now = engine::system_clock().now();
        return std::pair{s.status(now), s.operations(now)};
      };
  reader_.async_run<std::pair<engine::status_snapshot, engine::ops_snapshot>>(
      std::move(job),
      asio::bind_executor(
          ioc_.get_executor(),
          [this, alive = alive_, started = std::chrono::steady_clock::now()](
              std::exception_ptr e,
              std::pair<engine::status_snapshot, engine::ops_snapshot> result) {
            if (!*alive || !running_) return;
            if (e) {
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& ex) {
                spdlog::warn("metrics refresh failed: {}", ex.what());
              }
            } else {
              const auto& [status, ops] = result;
              for (const auto& [state, n] : status.by_state)
                metrics_.gauge("pigeon_messages", "Messages by state.", {{"state", state}})
                    .set(static_cast<double>(n));
              for (const auto& c : status.campaigns)
                for (const auto& [state, n] : c.by_state)
                  metrics_
                      .gauge("pigeon_campaign_messages", "Messages by campaign and state.",
                             {{"campaign", c.name}, {"state", state}})
                      .set(static_cast<double>(n));
              metrics_
                  .gauge("pigeon_oldest_due_age_seconds",
                         "Age of the oldest message due and not yet claimed (0 when none).")
                  .set(status.oldest_due ? std::chrono::duration<double>(
                                               engine::system_clock().now() - *status.oldest_due)
                                               .count()
                                         : 0.0);
              metrics_
                  .gauge("pigeon_possible_duplicates", "Messages resent after an unknown outcome.")
                  .set(static_cast<double>(status.possible_duplicates));
              for (const auto& p : ops.providers)
                metrics_
                    .gauge("pigeon_provider_error_rate",
                           "Failed or retried share of the last hour's attempts, by provider.",
                           {{"provider", p.name}})
                    .set(p.last_hour.error_rate());
            }
            // Every 5 s, or less often when reading took long (a large queue or ledger): the
            // reads stay under 5 % of the time, whatever their size.
            auto took = std::chrono::steady_clock::now() - started;
            refresh_timer_.expires_after(
                std::max<std::chrono::steady_clock::duration>(5s, 20 * took));
            refresh_timer_.async_wait([this, alive](boost::system::error_code ec) {
              if (!ec && *alive) refresh();
            });
          }));
}

void engine_ops::watch_reload() {
  hup_.async_wait([this, alive = alive_](boost::system::error_code ec, int) {
    if (ec || !*alive || !running_) return;
    reload();
    watch_reload();
  });
}

// SIGHUP: alert thresholds and the log format apply at once; what needs a restart is named.
void engine_ops::reload() {
  config::engine_config next;
  try {
    next = config::load_engine_config(cfg_.path);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: {} not reloaded, keeping the running config: {}", cfg_.path, e.what());
    return;
  }
  std::vector<std::string> restart;
  if (next.database != cfg_.database) restart.push_back("database");
  if (next.node != cfg_.node) restart.push_back("node");
  if (next.listen_webhooks != cfg_.listen_webhooks) restart.push_back("listen.webhooks");
  if (next.listen_admin != cfg_.listen_admin) restart.push_back("listen.admin");
  if (next.admin_token != cfg_.admin_token) restart.push_back("admin_token");
  if (next.admin_hosts != cfg_.admin_hosts) restart.push_back("admin_hosts");
  // Applied live: quiet hours and each existing provider's rate and burst.
  std::vector<std::string> applied{"alert thresholds", "log_format"};
  std::map<std::string, std::pair<double, double>> rates;
  for (const auto& [name, p] : next.providers) {
    auto old = cfg_.providers.find(name);
    if (old == cfg_.providers.end() || old->second.concurrency != p.concurrency ||
        old->second.kind != p.kind || old->second.settings.size() != p.settings.size()) {
      restart.push_back("providers." + name);
    } else if (old->second.rate_per_second != p.rate_per_second || old->second.burst != p.burst) {
      rates[name] = {p.rate_per_second, p.burst};
      old->second.rate_per_second = p.rate_per_second;
      old->second.burst = p.burst;
      applied.push_back("providers." + name + ".rate");
    }
  }
  if (dispatcher_ && (next.policy.quiet_hours != cfg_.policy.quiet_hours || !rates.empty())) {
    if (next.policy.quiet_hours != cfg_.policy.quiet_hours) applied.push_back("policy.quiet_hours");
    dispatcher_->reload(next.policy.quiet_hours, rates);
    cfg_.policy.quiet_hours = next.policy.quiet_hours;
  }
  if (next.senders.size() != cfg_.senders.size()) restart.push_back("senders");
  if (next.drain_timeout != cfg_.drain_timeout) restart.push_back("drain_timeout");
  cfg_.alerts = next.alerts;
  if (next.logs != cfg_.logs) {
    cfg_.logs = next.logs;
    ops::use_log_style(next.logs == config::log_format::json ? ops::log_style::json
                                                             : ops::log_style::text);
  }
  std::string pending, done;
  for (const auto& r : restart) pending += (pending.empty() ? "" : ", ") + r;
  for (const auto& a : applied) done += (done.empty() ? "" : ", ") + a;
  spdlog::info("SIGHUP: reloaded {}: applied {}{}", cfg_.path, done,
               pending.empty() ? "" : "; changed but needing a restart: " + pending);
}

}  // namespace pigeon::engine::cli
