// pigeon serve: the engine. Wires the store (a SQLite file, or a PostgreSQL database shared by
// several nodes), the curl HTTP client, the carrier codecs and (for `kind: simulator` providers
// without a url) an embedded carrier simulator.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include "engine/campaign/journeys.hpp"
#include "engine/cli/commands.hpp"
#include "engine/cli/engine_ops.hpp"
#include "engine/cli/fd_budget.hpp"
#include "engine/dispatch/dispatcher.hpp"
#include "engine/inbound/integrator_api.hpp"
#include "engine/inbound/media_handler.hpp"
#include "engine/inbound/webhooks.hpp"
#include "engine/model/clock.hpp"
#include "engine/net/carrier_simulator.hpp"
#include "engine/net/threaded_http_client.hpp"
#include "engine/ops/engine_lock.hpp"
#include "engine/ops/io_fault.hpp"
#include "engine/ops/log_format.hpp"
#include "engine/store/async_store.hpp"
#include "engine/store/postgres/node_watch.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "providers/registry.hpp"

namespace pigeon::engine::cli {

namespace {

namespace asio = boost::asio;

struct serve_options {
  bool until_idle = false;
  std::string until;       // "" or an ISO time: stop once the clock reaches it
  std::string clock;       // "" or "sim:T"
  bool admin = true;       // serve the admin API on listen.admin
  std::string log_format;  // "", json or text: overrides the config's log_format
  std::string node;        // "" or the node name (PostgreSQL): overrides the config's `node`
};

// "host:port" (validated by the config loader) -> an endpoint; port 0 picks a free one.
asio::ip::tcp::endpoint parse_listen(const std::string& address) {
  auto colon = address.rfind(':');
  auto host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("listen address `" + address + "`: expected an IP address");
  return {ip, static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)))};
}

// A rehearsal (`--clock sim:T`) runs a week in seconds: it may only reach simulators and
// loopback hosts, never a carrier that would text real customers. Throws config_error naming
// every provider of a route that is neither, at its place in the config.
void refuse_real_carriers(const config::engine_config& cfg, const std::set<std::string>& used) {
  std::vector<config::config_issue> issues;
  for (const auto& name : used) {
    const auto& p = cfg.providers.at(name);
    if (auto url = providers::off_loopback_url(p))
      issues.push_back({p.where, "provider " + name + " (" + p.kind + ") sends to " + *url +
                                     ": `serve --clock sim:` is a rehearsal and sends only to "
                                     "simulator providers or loopback hosts, so that a "
                                     "simulated run never texts real customers (route to a "
                                     "`kind: simulator` provider, or drop --clock sim:)"});
  }
  if (!issues.empty()) throw config::config_error(std::move(issues));
}

// The secret the embedded simulator signs its receipts and replies with: the webhook_secret of
// the simulator providers without a url (they share the one simulator, so they must agree), or
// one generated for this run when none sets one. Throws config_error when two differ.
std::string embedded_simulator_secret(const config::engine_config& cfg,
                                      const std::set<std::string>& used) {
  std::string secret;
  const config::setting* first = nullptr;
  for (const auto& name : used) {
    const auto& p = cfg.providers.at(name);
    if (p.kind != "simulator" || p.settings.count("url")) continue;
    auto it = p.settings.find("webhook_secret");
    if (it == p.settings.end() || it->second.value.empty()) continue;
    if (first && it->second.value != secret)
      throw config::config_error(
          {{it->second.where, "provider " + name +
                                  ": the simulator providers without a url share one embedded "
                                  "simulator, which signs with one webhook_secret; this one "
                                  "differs from the one at " +
                                  first->where.to_string()}});
    first = &it->second;
    secret = it->second.value;
  }
  if (!secret.empty()) return secret;
  std::random_device random;
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) secret += digits[random() % 16];
  return secret;
}

// The name this engine registers under on a PostgreSQL database: --node, else the config's
// `node`, else the host name (its characters outside a node name's replaced by '-').
std::string node_name(const config::engine_config& cfg, const serve_options& opts) {
  if (!opts.node.empty()) return opts.node;
  if (!cfg.node.empty()) return cfg.node;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "pigeon";
  std::string name(host);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
  return name.substr(0, 63);
}

// A registered node's name, freed however serve() ends (a listener that cannot bind, a bad
// --until, an engine error): its heartbeat row is marked stopped on a connection of its own, so
// a restart under that name is not refused for the next 15 s. The dispatcher's clean stop marks
// it too; a second mark only moves stopped_at.
struct node_registration {
  std::string url;
  std::string name;
  ~node_registration() {
    try {
      postgres::postgres_store::open(url)->engine_stopped(name, engine::system_clock().now());
    } catch (const std::exception& e) {
      spdlog::warn("node {} not marked stopped: {}", name, e.what());
    }
  }
};

// The folder of a SQLite file and of its engine lock, which may not exist yet.
void make_database_folder(const std::string& db_path) {
  if (auto parent = std::filesystem::path(db_path).parent_path();
      !parent.empty() && db_path != ":memory:" && !db_path.starts_with("file:")) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);  // a failure is reported by the lock
  }
}

int serve(const context& ctx, const serve_options& opts) {
  auto cfg = ctx.engine_config(true);
  if (opts.log_format == "json") cfg.logs = config::log_format::json;
  if (opts.log_format == "text") cfg.logs = config::log_format::text;
  ops::use_log_style(cfg.logs == config::log_format::json ? ops::log_style::json
                                                          : ops::log_style::text);
  auto clk = make_clock(opts.clock);
  // Descriptors: the soft limit raised to the hard one, and a cap per listener that leaves the
  // store and the carriers theirs.
  const auto open_files = raise_open_files_limit();
  const auto connection_cap = listener_connection_cap(cfg, open_files);
  spdlog::info("open files limit {}: at most {} connections per listener", open_files,
               connection_cap);
  const bool rehearsal = opts.clock.starts_with("sim:");
  // Providers used by some sender route become lanes.
  std::set<std::string> used;
  for (const auto& [name, s] : cfg.senders) used.insert(s.route.begin(), s.route.end());
  if (rehearsal) refuse_real_carriers(cfg, used);
  for (const auto& warning : providers::config_warnings(cfg)) spdlog::warn("{}", warning);
  auto db_path = ctx.database(cfg);
  const bool shared = ctx.is_postgres(cfg);  // PostgreSQL: one node among several
  if (shared && !opts.node.empty() && !config::valid_node_name(opts.node)) {
    std::cerr << "pigeon serve: --node '" << opts.node
              << "': expected a name of letters, digits, '.', '_' and '-' (at most 63)\n";
    return 2;
  }
  // A SQLite file is one engine's: the lock first, so a second engine on the same database is
  // refused before it opens the database and a newer pigeon never migrates the schema under a
  // running one. The lock file sits beside the database.
  std::optional<ops::engine_lock> lock;
  if (!shared) {
    make_database_folder(db_path);
    lock.emplace(db_path);
  }
  // PostgreSQL unreachable, or its schema newer than this binary: a store_error, exit 2.
  auto db = ctx.open_store(cfg, context::store_open::create);
  std::string owner = "pid-" + std::to_string(::getpid());
  const auto grace = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.reconcile_grace);
  std::pair<std::size_t, std::size_t> recovered;
  std::optional<node_registration> registration;
  if (shared) {
    // A node: registered first, so a live node of its name refuses it before it touches the
    // queue; then it recovers its own earlier self's leftovers (that self is dead: its name's
    // heartbeat was stale or stopped) and those of every node without a live heartbeat.
    owner = node_name(cfg, opts);
    auto* pg = static_cast<postgres::postgres_store*>(db.get());
    if (auto refused = pg->register_node(owner, engine::system_clock().now())) {
      std::cerr << "pigeon serve: " << *refused << "\n";
      return 2;
    }
    registration.emplace(db_path, owner);
    spdlog::info("node {} registered on {}", owner, pg->target());
    recovered = pg->recover_owner(owner, clk->now(), grace);
    auto others = pg->recover_after_crash(clk->now(), grace);
    recovered.first += others.first;
    recovered.second += others.second;
  } else {
    if (!opts.node.empty() || !cfg.node.empty())
      spdlog::warn(
          "a node name (--node, `node`) names an engine on a PostgreSQL database; on the "
          "SQLite file {} the engine is {}",
          db_path, owner);
    // From here the database's files failing under us is a logged stop, not a silent SIGBUS.
    ops::clear_io_fault_reason(db_path);
    ops::install_io_fault_handler(db_path);
    // We hold the lock, so anything leased or submitting belongs to a run that died.
    recovered = db->recover_after_crash(clk->now(), grace);
  }
  if (recovered.first + recovered.second > 0)
    spdlog::warn(
        "recovered a previous run: {} leased messages released, {} with unknown "
        "outcome scheduled for resend (counted as possible duplicates)",
        recovered.first, recovered.second);

  asio::io_context ioc(1);
  int connections = 0;
  for (const auto& [name, p] : cfg.providers) connections += p.concurrency;
  // libcurl's work on an I/O thread of its own: one message per request it is most of the
  // dispatcher thread's CPU (docs/BENCHMARKS.md).
  net::threaded_http_client http(ioc.get_executor(), std::max(4, connections));

  std::unique_ptr<net::carrier_simulator> simulator;
  std::vector<dispatch::lane_config> lanes;
  providers::codec_context embedded;  // the embedded simulator's address and signing secret
  for (const auto& name : used) {
    const auto& p = cfg.providers.at(name);
    providers::codec_context cctx;
    if (p.kind == "simulator" && !p.settings.count("url")) {
      if (!simulator) {
        net::simulator_options so;
        so.webhook_secret = embedded_simulator_secret(cfg, used);
        simulator = std::make_unique<net::carrier_simulator>(ioc.get_executor(), so);
        auto port = simulator->start({asio::ip::make_address("127.0.0.1"), 0});
        spdlog::info("embedded carrier simulator on 127.0.0.1:{}", port);
        embedded.simulator_url = "http://127.0.0.1:" + std::to_string(port);
        embedded.simulator_secret = so.webhook_secret;
      }
      cctx = embedded;
    }
    cctx.status_callback_base = cfg.public_url;
    lanes.push_back({name,
                     std::shared_ptr<const engine::carrier_codec>(providers::make_codec(p, cctx)),
                     p.rate_per_second, p.concurrency, p.burst});
  }
  // Webhooks reach the codec of the provider named in their path.
  inbound::webhook_handler::codec_map codecs;
  for (const auto& lane : lanes) codecs[lane.name] = lane.codec;
  std::map<std::string, dispatch::sender_profile> senders;
  for (const auto& [name, s] : cfg.senders)
    senders[name] = {s.signature, s.opt_out_hint, s.sms_max_segments, s.smart_encoding, s.route};

  // The writer thread never stops for a WAL checkpoint: a thread of its own runs them.
  auto* sqlite_db = dynamic_cast<sqlite::sqlite_store*>(db.get());
  if (sqlite_db) sqlite_db->checkpoint_in_background();
  // A rehearsal's attempts carry simulated times: kept out of status's live rates.
  if (rehearsal) db->mark_sends_simulated();
  engine::async_store store(std::move(db));
  dispatch::dispatcher_options dopts;
  dopts.owner = owner;
  dopts.until_idle = opts.until_idle;
  dopts.public_url = cfg.public_url;
  dopts.default_timezone = cfg.default_timezone;
  dopts.quiet_hours = cfg.policy.quiet_hours;
  dopts.window_spread = cfg.policy.window_spread;
  dopts.caps = std::make_shared<const policy::cap_policy>(cfg);
  dopts.drain_timeout = cfg.drain_timeout;
  // PostgreSQL: a provider's rate shared with the other nodes, and the watch over them
  // (engine/store/postgres/node_watch.hpp).
  if (shared)
    postgres::join_nodes(
        dopts, db_path, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.reconcile_grace));
  if (!opts.until.empty()) {
    dopts.until = engine::parse_iso(opts.until);
    if (!dopts.until) {
      std::cerr << "pigeon serve: --until '" << opts.until
                << "' is not an ISO 8601 time (e.g. 2027-12-31 or 2027-12-31T00:00:00Z)\n";
      return 2;
    }
  }
  // Lifecycle journeys: used on the store's thread only (the rollover before claims, contacts
  // and events from the integrator API). The rollover runs when a zone's next midnight comes,
  // and every 5 s of real time to notice journeys applied meanwhile.
  auto journeys = std::make_shared<campaign::journey_engine>(cfg);
  struct tick_state {
    std::optional<engine::time_point> next;
    std::chrono::steady_clock::time_point last{};
  };
  dopts.tick = [journeys, state = std::make_shared<tick_state>()](
                   engine::store& s, engine::time_point now) -> std::optional<engine::time_point> {
    auto real = std::chrono::steady_clock::now();
    bool due = state->next && now >= *state->next;
    if (!due && real - state->last < std::chrono::seconds(5)) return state->next;
    state->last = real;
    campaign::journey_result r;
    state->next = journeys->tick(s, now, &r);
    return state->next;
  };
  // Status and metrics read on a connection of their own, beside the writer (a file database).
  std::unique_ptr<engine::async_store> reader;
  if (shared)
    reader = std::make_unique<engine::async_store>(postgres::postgres_store::open(db_path));
  else if (sqlite_db && db_path != ":memory:" && !db_path.starts_with("file:"))
    reader = std::make_unique<engine::async_store>(sqlite::sqlite_store::open_reader(db_path));
  engine_ops ops(ioc, cfg, ctx.database_label(cfg), store, dopts.owner,
                 reader.get());  // admin API, metrics, SIGHUP
  ops.instrument(dopts);
  dispatch::dispatcher dispatcher(ioc.get_executor(), store, http, *clk, std::move(lanes),
                                  std::move(senders), dopts);

  // The webhooks listener (carriers) and the admin listener (metrics, health, status and the
  // integrator API). Their bound ports are logged ("webhooks listening on 127.0.0.1:PORT",
  // "admin listening on ..."): with port 0, tests read them.
  inbound::webhook_handler webhooks(store, *clk, std::move(codecs), cfg.public_url,
                                    inbound::default_recorder(inbound::make_reply_policy(cfg)),
                                    cfg.default_region);
  inbound::integrator_api api(store, *clk, cfg.default_region, journeys.get());
  ops.api_routes = [&api](net::http_request_t r) { return api.handle(std::move(r)); };
  ops.lane_detail = [&dispatcher] { return dispatcher.heartbeat_detail(); };
  ops.webhook_refusals = [&webhooks] { return webhooks.refusals(); };
  ops.admin_max_connections = connection_cap;
  if (opts.admin) ops.start(dispatcher);
  net::server_options wopts;
  wopts.name = "webhooks";
  wopts.max_connections = connection_cap;
  wopts.body_limit = 64 * 1024;
  wopts.idle_timeout = std::chrono::seconds(30);
  wopts.read_timeout = std::chrono::seconds(10);
  // Carriers fetch MMS media from the same listener: GET {public_url}/media/<path>.
  inbound::media_handler media(cfg.media_dir);
  if (!cfg.media_dir.empty() && !std::filesystem::is_directory(cfg.media_dir))
    spdlog::warn("media_dir {} is not a folder: carriers fetching media get 404", cfg.media_dir);
  net::http_server webhook_server(
      ioc.get_executor(),
      [&webhooks, &media](net::http_request_t r) {
        if (inbound::media_handler::handles(r.target())) return media(std::move(r));
        return webhooks(std::move(r));
      },
      wopts);
  ops.webhook_connections = [&webhook_server] { return webhook_server.connections(); };
  auto webhook_port = webhook_server.start(parse_listen(cfg.listen_webhooks));
  spdlog::info("webhooks listening on {}:{}",
               parse_listen(cfg.listen_webhooks).address().to_string(), webhook_port);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping claims, draining in-flight sends (up to {}s)", sig,
                 cfg.drain_timeout.count());
    ops.stop();
    dispatcher.stop();
  });
  int rc = 0;
  spdlog::info("engine {} serving {} ({} lanes){}", dopts.owner, ctx.database_label(cfg),
               used.size(), opts.until_idle ? ", until idle" : "");
  asio::co_spawn(ioc, dispatcher.run(), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("engine stopped: {}", ex.what());
        rc = 2;
      }
    }
    signals.cancel();
    webhook_server.stop();
    ops.stop();
    if (simulator) simulator->stop();
    http.shutdown();  // cancels requests abandoned at the drain deadline
  });
  ioc.run();
  const auto& st = dispatcher.stats();
  spdlog::info(
      "engine stopped: {} claimed, {} submitted, {} deferred, {} retried, {} failed, {} expired",
      st.claimed, st.submitted, st.deferred, st.retried, st.failed, st.expired);
  spdlog::info(
      "store: {} intent flushes, {} outcome flushes, {} commits, {} background "
      "checkpoints",
      st.intent_flushes, st.outcome_flushes, store.statistics().batches,
      sqlite_db ? sqlite_db->background_checkpoints() : 0);
  return rc;
}

}  // namespace

void register_serve(CLI::App& app, context& ctx, int& exit_code) {
  static serve_options opts;
  auto* serve_cmd = app.add_subcommand("serve", "run the engine");
  serve_cmd->add_flag("--until-idle", opts.until_idle,
                      "exit 0 once nothing is due or in flight (batch runs, tests)");
  serve_cmd->add_option("--until", opts.until,
                        "stop once the clock (simulated or real) reaches this ISO time: bounds "
                        "runs whose lifecycle journeys never go idle");
  serve_cmd->add_option("--clock", opts.clock,
                        "sim:T runs on a simulated clock from T that jumps to the next due time");
  serve_cmd->add_option("--log-format", opts.log_format, "json or text (overrides log_format)")
      ->check(CLI::IsMember({"json", "text"}));
  serve_cmd->add_option("--node", opts.node,
                        "this node's name on a PostgreSQL database (overrides `node`; default: "
                        "the host name)");
  serve_cmd->add_flag("!--no-admin", opts.admin, "do not serve the admin API (listen.admin)");
  serve_cmd->callback([&] { exit_code = serve(ctx, opts); });
}

}  // namespace pigeon::engine::cli
