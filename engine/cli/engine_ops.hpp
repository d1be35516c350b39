#pragma once

// Operations around a running engine (pigeon serve): the admin listener (GET /metrics,
// /healthz, /status on listen.admin), metrics fed by the dispatcher and refreshed from the
// store, lane detail stored with the heartbeat for `pigeon status`, and SIGHUP config reload.
//
// Threading: construct, start and stop on the io_context's thread; everything runs there.
// Lifetime: the store and dispatcher must outlive this object; stop() before they go.
// Failure: start() throws std::runtime_error naming the address when listen.admin cannot be
// bound, or when it is not loopback and no admin_token is set.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/engine_config.hpp"
#include "engine/dispatch/dispatcher.hpp"
#include "engine/net/http_server.hpp"
#include "engine/ops/metrics.hpp"
#include "engine/store/async_store.hpp"

namespace pigeon::engine::cli {

class engine_ops {
 public:
  // `reader`, when given, runs the read-only work (status for /status and the metrics refresh)
  // on a connection of its own, so it never waits for, or holds up, the writer's transactions;
  // otherwise that work goes to `store` too.
  engine_ops(boost::asio::io_context& ioc, config::engine_config cfg, std::string database,
             engine::async_store& store, std::string owner, engine::async_store* reader = nullptr);
  ~engine_ops();

  // Hooks the dispatcher into the metrics; call before constructing the dispatcher.
  void instrument(dispatch::dispatcher_options& options);
  // Starts the admin listener, the refresh loop and the SIGHUP handler; `d` is the running
  // dispatcher. Returns the admin port bound.
  std::uint16_t start(dispatch::dispatcher& d);
  // Stops them (idempotent); /healthz turns 503 first.
  void stop();

  // The lanes' state as JSON, stored with the heartbeat. By default the lane names with their
  // answer counts; the serve wiring may replace it (e.g. from dispatcher::lanes()).
  std::function<std::string()> lane_detail;
  // The webhook listener's refusals (forged, replayed, malformed), for /metrics
  // (pigeon_webhook_refusals_total) and, while any are recent, the heartbeat detail
  // ("webhook_refusals", which `pigeon status` turns into a warning).
  std::function<std::vector<engine::refusal_count>()> webhook_refusals;
  // The webhooks listener's connections (the admin listener's are engine_ops' own), for the
  // heartbeat detail (`status` warns connection_cap when a cap refused connections lately).
  std::function<net::connection_stats()> webhook_connections;
  // Open connections the admin listener may hold (0: no cap). Set before start().
  std::size_t admin_max_connections = 0;

  // More admin endpoints (the integrator API, /v1/...), behind the same token: called for
  // paths under /v1/, returning nullopt for a path it does not own (answered 404). Set before
  // start().
  std::function<boost::asio::awaitable<std::optional<net::http_response_t>>(net::http_request_t)>
      api_routes;

  ops::metrics_registry& metrics() { return metrics_; }

 private:
  void refresh();
  void watch_reload();
  void reload();

  boost::asio::io_context& ioc_;
  config::engine_config cfg_;
  std::string database_;
  engine::async_store& store_;
  engine::async_store& reader_;  // store_ when no reader was given
  std::string owner_;
  dispatch::dispatcher* dispatcher_ = nullptr;
  ops::metrics_registry metrics_;
  dispatch::dispatcher_stats last_stats_;
  std::unique_ptr<net::http_server> admin_;
  boost::asio::steady_timer refresh_timer_;
  boost::asio::signal_set hup_;
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pigeon::engine::cli
