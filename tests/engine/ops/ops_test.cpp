// Metrics exposition, the admin handler, log formatting and the status verdict.
#include <doctest/doctest.h>
#include <spdlog/details/log_msg.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "engine/cli/progress.hpp"
#include "engine/model/phone.hpp"
#include "engine/ops/admin_handler.hpp"
#include "engine/ops/log_format.hpp"
#include "engine/ops/metrics.hpp"
#include "engine/ops/status_report.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::ops;
namespace http = boost::beast::http;

namespace {

std::optional<admin_response> call(admin_request req, const admin_sources& sources) {
  boost::asio::io_context ioc;
  auto f =
      boost::asio::co_spawn(ioc, handle_admin(std::move(req), sources), boost::asio::use_future);
  ioc.run();
  return f.get();
}

admin_request get(const std::string& target, const std::string& token = "") {
  admin_request req{http::verb::get, target, 11};
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  return req;
}

std::string format_line(log_style style, const std::string& text) {
  auto f = make_log_formatter(style);
  spdlog::details::log_msg msg(spdlog::source_loc{}, "pigeon", spdlog::level::warn, text);
  spdlog::memory_buf_t buf;
  f->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

}  // namespace

TEST_CASE("metrics render in the Prometheus text format with help, type, buckets, sum and count") {
  metrics_registry r;
  r.counter("pigeon_sent_total", "Messages sent.", {{"provider", "main"}}).inc(3);
  r.counter("pigeon_sent_total", "Messages sent.", {{"provider", "backup"}}).inc();
  r.gauge("pigeon_in_flight", "In flight.\nNow.").set(2.5);
  auto& h = r.histogram("pigeon_latency_seconds", "Latency.", {0.1, 1}, {{"provider", "main"}});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(7);
  CHECK(r.render() ==
        "# HELP pigeon_in_flight In flight.\\nNow.\n"
        "# TYPE pigeon_in_flight gauge\n"
        "pigeon_in_flight 2.5\n"
        "# HELP pigeon_latency_seconds Latency.\n"
        "# TYPE pigeon_latency_seconds histogram\n"
        "pigeon_latency_seconds_bucket{provider=\"main\",le=\"0.1\"} 1\n"
        "pigeon_latency_seconds_bucket{provider=\"main\",le=\"1\"} 2\n"
        "pigeon_latency_seconds_bucket{provider=\"main\",le=\"+Inf\"} 3\n"
        "pigeon_latency_seconds_sum{provider=\"main\"} 7.55\n"
        "pigeon_latency_seconds_count{provider=\"main\"} 3\n"
        "# HELP pigeon_sent_total Messages sent.\n"
        "# TYPE pigeon_sent_total counter\n"
        "pigeon_sent_total{provider=\"backup\"} 1\n"
        "pigeon_sent_total{provider=\"main\"} 3\n");
}

TEST_CASE("label values are escaped and a runaway label folds into one overflow series") {
  metrics_registry r(2);
  r.gauge("g", "h", {{"campaign", "a\"b\\c\nd"}}).set(1);
  CHECK(r.render().find("g{campaign=\"a\\\"b\\\\c\\nd\"} 1\n") != std::string::npos);
  r.gauge("g", "h", {{"campaign", "second"}}).set(2);
  r.gauge("g", "h", {{"campaign", "third"}}).set(3);
  r.gauge("g", "h", {{"campaign", "fourth"}}).add(4);
  auto text = r.render();
  CHECK(text.find("campaign=\"third\"") == std::string::npos);
  CHECK(text.find("g{campaign=\"_other\"} 7\n") != std::string::npos);
}

TEST_CASE("metric values print as integers, shortest decimals, or infinities") {
  CHECK(format_metric_value(3) == "3");
  CHECK(format_metric_value(0.1) == "0.1");
  CHECK(format_metric_value(-2.25) == "-2.25");
  CHECK(format_metric_value(1.0 / 0.0) == "+Inf");
}

TEST_CASE("the admin handler answers its paths and leaves others to the next handler") {
  admin_sources s;
  s.metrics = [] { return std::string("m 1\n"); };
  s.healthy = [] { return true; };
  s.status = []() -> boost::asio::awaitable<boost::json::object> {
    co_return boost::json::object{{"status", "ok"}};
  };
  CHECK(!call(get("/v1/campaigns"), s));
  auto m = call(get("/metrics"), s);
  REQUIRE(m);
  CHECK(m->result() == http::status::ok);
  CHECK(m->body() == "m 1\n");
  CHECK(std::string((*m)[http::field::content_type]).starts_with("text/plain; version=0.0.4"));
  auto st = call(get("/status?x=1"), s);
  REQUIRE(st);
  CHECK(boost::json::parse(st->body()).at("status") == "ok");
  admin_request post{http::verb::post, "/healthz", 11};
  CHECK(call(post, s)->result() == http::status::method_not_allowed);
  s.healthy = [] { return false; };
  CHECK(call(get("/healthz"), s)->result() == http::status::service_unavailable);
  s.status = []() -> boost::asio::awaitable<boost::json::object> {
    throw std::runtime_error("database is locked");
    co_return boost::json::object{};
  };
  auto failed = call(get("/status"), s);
  CHECK(failed->result() == http::status::service_unavailable);
  CHECK(failed->body().find("database is locked") != std::string::npos);
}

TEST_CASE("with a token, admin requests without the right bearer are refused with 401") {
  admin_sources s;
  s.token = "s3cret";
  s.healthy = [] { return true; };
  CHECK(call(get("/healthz"), s)->result() == http::status::unauthorized);
  CHECK(call(get("/healthz", "s3cre"), s)->result() == http::status::unauthorized);
  CHECK(call(get("/healthz", "s3cret!"), s)->result() == http::status::unauthorized);
  CHECK(call(get("/healthz", "s3cret"), s)->result() == http::status::ok);
  CHECK(!bearer_matches("Bearer ", ""));
  // The scheme is case-insensitive (RFC 9110); the token is not.
  CHECK(bearer_matches("bearer s3cret", "s3cret"));
  CHECK(bearer_matches("BEARER s3cret", "s3cret"));
  CHECK(!bearer_matches("bearer S3CRET", "s3cret"));
}

TEST_CASE("the admin listener refuses foreign hosts, cross-origin pages and non-JSON writes") {
  auto hosts = admin_host_names("127.0.0.1", 9090, {"ops.example.com"});
  auto request = [](http::verb verb, std::string host, std::string origin, std::string type) {
    admin_request r{verb, "/v1/contacts", 11};
    if (!host.empty()) r.set(http::field::host, host);
    if (!origin.empty()) r.set(http::field::origin, origin);
    if (!type.empty()) r.set(http::field::content_type, type);
    return r;
  };
  auto refusal = [&](const admin_request& r) {
    auto res = refuse_cross_site(r, hosts);
    return res ? static_cast<int>(res->result_int()) : 0;
  };
  // What curl and scripts on this machine send passes.
  CHECK(refusal(request(http::verb::get, "127.0.0.1:9090", "", "")) == 0);
  CHECK(refusal(request(http::verb::get, "LOCALHOST:9090", "", "")) == 0);
  CHECK(refusal(request(http::verb::get, "", "", "")) == 0);
  CHECK(refusal(request(http::verb::post, "localhost:9090", "", "application/json")) == 0);
  CHECK(refusal(request(http::verb::post, "[::1]:9090", "", "application/json; charset=utf-8")) ==
        0);
  CHECK(refusal(request(http::verb::get, "ops.example.com:9090", "", "")) == 0);
  CHECK(refusal(request(http::verb::get, "localhost:9090", "http://localhost:9090", "")) == 0);
  // DNS rebinding: a name resolving to 127.0.0.1 that is not ours.
  CHECK(refusal(request(http::verb::get, "evil.example", "", "")) == 421);
  CHECK(refusal(request(http::verb::get, "127.0.0.1:9091", "", "")) == 421);
  // A page elsewhere posting to loopback.
  CHECK(refusal(request(http::verb::post, "127.0.0.1:9090", "http://evil.example",
                        "application/json")) == 403);
  CHECK(refusal(request(http::verb::get, "127.0.0.1:9090", "null", "")) == 403);
  CHECK(refusal(request(http::verb::post, "127.0.0.1:9090", "", "text/plain")) == 415);
  CHECK(refusal(request(http::verb::post, "127.0.0.1:9090", "",
                        "application/x-www-form-urlencoded")) == 415);
  CHECK(refusal(request(http::verb::post, "127.0.0.1:9090", "", "")) == 415);
}

TEST_CASE("log lines mask phone numbers, and JSON lines are valid JSON") {
  CHECK(mask_phones_in("send 7 to +8613800138000 failed; +12 kept") ==
        "send 7 to " + mask_phone("+8613800138000") + " failed; +12 kept");
  auto line = format_line(log_style::json, "to +8613800138000: \"quoted\"\n");
  auto v = boost::json::parse(line);
  CHECK(v.at("level") == "warning");
  CHECK(std::string(v.at("msg").as_string()) ==
        "to " + mask_phone("+8613800138000") + ": \"quoted\"\n");
  CHECK(std::string(v.at("time").as_string()).ends_with("Z"));
  CHECK(format_line(log_style::text, "to +8613800138000").find("+8613800138000") ==
        std::string::npos);
}

TEST_CASE("status verdicts: ok, warning past a threshold, critical when the engine is down") {
  pigeon::config::alert_thresholds t;
  auto now = time_point(std::chrono::hours(1000));
  status_report r;
  r.now = now;
  r.snapshot.engine_heartbeat = now - std::chrono::seconds(2);
  r.snapshot.engine_owner = "pid-1";
  r.snapshot.oldest_due = now - std::chrono::minutes(1);
  assess(r, t);
  CHECK(r.engine_up);
  CHECK(r.level == alert_level::ok);

  status_report w = r;
  w.alerts.clear();
  w.snapshot.oldest_due = now - std::chrono::minutes(11);
  w.ops.last_hour.attempts = 100;
  w.ops.last_hour.failed = 6;  // 6% > 5%
  assess(w, t);
  CHECK(w.level == alert_level::warning);
  REQUIRE(w.alerts.size() == 2);
  CHECK(w.alerts[0].name == "oldest_due");
  CHECK(w.alerts[1].name == "failure_rate");

  status_report c = r;
  c.alerts.clear();
  c.snapshot.engine_heartbeat = now - std::chrono::seconds(31);
  assess(c, t);
  CHECK(!c.engine_up);
  CHECK(c.level == alert_level::critical);
  CHECK(c.alerts.at(0).name == "engine_down");
  CHECK(to_json(c).at("exit_code") == 2);
}

TEST_CASE("status lists every node with its heartbeat, state and own lanes") {
  pigeon::config::alert_thresholds t;
  auto now = time_point(std::chrono::hours(1000));
  status_report r;
  r.now = now;
  r.snapshot.engine_heartbeat = now - std::chrono::seconds(1);
  r.snapshot.engine_owner = "node-a";
  r.snapshot.nodes = {
      {"node-a", 11, now - std::chrono::seconds(1), std::nullopt, R"([{"name":"main"}])"},
      {"node-b", 22, now - std::chrono::seconds(45), std::nullopt, R"([{"name":"bulk"}])"},
      {"node-c", 33, now - std::chrono::minutes(5), now - std::chrono::minutes(5),
       R"([{"name":"old"}])"}};
  assess(r, t);
  CHECK(r.engine_up);
  CHECK(r.nodes_up == std::vector<bool>{true, false, false});
  auto nodes = to_json(r).at("nodes").as_array();
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[0].at("name") == "node-a");
  CHECK(nodes[0].at("pid") == 11);
  CHECK(nodes[0].at("up") == true);
  CHECK(nodes[0].at("heartbeat").as_string() == format_iso(now - std::chrono::seconds(1)));
  CHECK(nodes[0].at("heartbeat_age_seconds").as_double() == doctest::Approx(1.0));
  CHECK(nodes[0].at("stopped_at").is_null());
  CHECK(nodes[0].at("lanes").at(0).at("name") == "main");
  CHECK(nodes[1].at("up") == false);  // stale: stopped beating without a clean stop
  CHECK(nodes[1].at("heartbeat_age_seconds").as_double() == doctest::Approx(45.0));
  CHECK(nodes[1].at("lanes").at(0).at("name") == "bulk");
  CHECK(nodes[2].at("stopped_at").as_string() == format_iso(now - std::chrono::minutes(5)));
  CHECK(nodes[2].at("lanes").is_null());  // a stopped node's lanes are history
  // node-b died while node-a runs: a warning naming it; node-c stopped cleanly: nothing.
  CHECK(r.level == alert_level::warning);
  REQUIRE(r.alerts.size() == 1);
  CHECK(r.alerts[0].name == "node_down");
  CHECK(r.alerts[0].text.find("node node-b stopped beating 45s ago") != std::string::npos);
}

TEST_CASE("a full disk under the database is critical and named in engine_down") {
  pigeon::config::alert_thresholds t;
  auto now = time_point(std::chrono::hours(1000));
  status_report r;
  r.now = now;
  r.database = "/srv/pigeon/pigeon.db";
  r.snapshot.engine_heartbeat = now - std::chrono::seconds(2);
  r.disk_available = 512 * 1024 * 1024;
  assess(r, t);
  CHECK(r.level == alert_level::ok);

  status_report low = r;
  low.disk_available = 50 * 1024 * 1024;
  assess(low, t);
  CHECK(low.level == alert_level::warning);
  CHECK(low.alerts.at(0).name == "disk_low");

  status_report full = r;
  full.disk_available = 4096;
  full.snapshot.engine_heartbeat = now - std::chrono::seconds(90);  // its beats fail too
  assess(full, t);
  CHECK(full.level == alert_level::critical);
  REQUIRE(full.alerts.size() >= 2);
  CHECK(full.alerts[0].name == "disk_full");
  CHECK(full.alerts[0].text.find("/srv/pigeon/pigeon.db has 4096 bytes available") !=
        std::string::npos);
  CHECK(full.alerts[0].text.find("database or disk is full") != std::string::npos);
  CHECK(full.alerts[1].name == "engine_down");
  CHECK(full.alerts[1].text.find("its disk is full") != std::string::npos);
  CHECK(to_json(full).at("disk_available_bytes") == 4096);
  CHECK(disk_available("/").has_value());
  CHECK_FALSE(disk_available(":memory:").has_value());
}

TEST_CASE("the progress line shows count, rate and ETA, or count and rate without a total") {
  using pigeon::engine::cli::progress_bar;
  CHECK(progress_bar::render("stored", 250, 1000, std::chrono::seconds(5)) ==
        "stored [######..................] 250/1000  50/s  ETA 15s");
  CHECK(progress_bar::render("read", 30000, 0, std::chrono::seconds(2)) == "read 30000  15000/s");
}
