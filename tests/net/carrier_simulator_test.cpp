#include "engine/net/carrier_simulator.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/net/curl_multi_client.hpp"
#include "engine/net/http_server.hpp"
#include "tests/net/net_test_support.hpp"
#include "tests/net/server_test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using pigeon::engine::http_errc;
using pigeon::engine::make_error_code;
using pigeon::engine::net::carrier_simulator;
using pigeon::engine::net::curl_multi_client;
using pigeon::engine::net::simulator_fault;
using pigeon::engine::net::simulator_options;
using namespace pigeon::engine::net::test;

namespace {

pigeon::engine::http_request message(std::uint16_t port, const std::string& to,
                                     const std::string& text, const std::string& ref = "42") {
  json::object body{{"to", to},      {"from", "coffee"}, {"text", text},          {"ref", ref},
                    {"kind", "sms"}, {"subject", ""},    {"media", json::array{}}};
  auto req = make_request("POST", url(port, "/messages"), json::serialize(body));
  req.headers.emplace_back("Content-Type", "application/json");
  return req;
}

json::value body_json(const outcome& r) { return json::parse(r.response.body); }

// A simulator on its own loop with a client, torn down in the right order.
struct fixture {
  explicit fixture(simulator_options options)
      : simulator(io.get_executor(), std::move(options)), client(io.get_executor(), 4) {
    port = simulator.start(loopback);
  }
  ~fixture() {
    client.shutdown();
    simulator.stop();
    run_for(io, 20ms);
  }
  outcome send(const std::string& to, const std::string& text = "hello") {
    return perform(io, client, message(port, to, text));
  }
  asio::io_context io;
  carrier_simulator simulator;
  curl_multi_client client;
  std::uint16_t port = 0;
};

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("pigeon-net-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace

TEST_CASE("simulator accepts a message and records it to the JSONL file") {
  const auto path = temp_path("records.jsonl");
  std::filesystem::remove(path);
  simulator_options options;
  options.record_path = path.string();
  fixture f(options);

  auto r = f.send("+8613800138000", "双11咖啡券");
  CHECK_FALSE(r.ec);
  CHECK(r.response.status == 201);
  auto body = body_json(r).as_object();
  CHECK(body.at("id") == "SIM-1");
  CHECK(body.at("message_id") == "SIM-1");
  CHECK(body.at("status") == "accepted");
  CHECK(f.send("+8613800138001").response.status == 201);

  std::ifstream in(path);
  std::vector<json::object> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line).as_object());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("seq") == 1);
  CHECK(lines[0].at("path") == "/messages");
  CHECK(lines[0].at("to") == "+8613800138000");
  CHECK(lines[0].at("from") == "coffee");
  CHECK(lines[0].at("text") == "双11咖啡券");
  CHECK(lines[0].at("ref") == "42");
  CHECK(lines[0].at("status") == 201);
  CHECK(lines[0].at("id") == "SIM-1");
  CHECK(lines[0].at("fault") == "");
  CHECK(lines[0].contains("at"));
  CHECK(lines[1].at("to") == "+8613800138001");

  auto subs = perform(f.io, f.client, make_request("GET", url(f.port, "/_submissions")));
  CHECK(json::parse(subs.response.body).as_array().size() == 2);
  auto stats = perform(f.io, f.client, make_request("GET", url(f.port, "/_stats")));
  CHECK(json::parse(stats.response.body) ==
        json::parse(R"({"received":2,"accepted":2,"rejected":0,"faults":0,"dlrs_sent":0,)"
                    R"("dlrs_failed":0,"mos_sent":0})"));
  CHECK(f.simulator.stats().accepted == 2);
  CHECK(f.simulator.submissions().size() == 2);
  std::filesystem::remove(path);
}

TEST_CASE("simulator accepts a form post on another path as a generic gateway") {
  fixture f(simulator_options{});
  auto req = make_request("POST", url(f.port, "/send"),
                          "to=%2B8613800138000&from=coffee&text=hi+there&ref=7");
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  auto r = perform(f.io, f.client, std::move(req));
  CHECK(r.response.status == 201);
  auto subs = f.simulator.submissions();
  REQUIRE(subs.size() == 1);
  CHECK(subs[0].path == "/send");
  CHECK(subs[0].to == "+8613800138000");
  CHECK(subs[0].text == "hi there");
  CHECK(subs[0].ref == "7");
  CHECK(subs[0].body == "to=%2B8613800138000&from=coffee&text=hi+there&ref=7");
}

TEST_CASE("simulator 429 carries Retry-After") {
  simulator_options options;
  options.fail_rate = 1.0;
  options.faults = {simulator_fault::http_429};
  options.retry_after = 7s;
  fixture f(options);
  auto r = f.send("+8613800138000");
  CHECK(r.response.status == 429);
  CHECK(r.response.header("Retry-After") == "7");
  CHECK(body_json(r).at("code") == "20429");
  CHECK(f.simulator.submissions().at(0).fault == "429");
}

TEST_CASE("simulator rejects numbers with the reject prefix with 400 21211") {
  simulator_options options;
  options.reject_prefix = "+1999";
  fixture f(options);
  auto r = f.send("+19995550000");
  CHECK(r.response.status == 400);
  CHECK(body_json(r).at("code") == "21211");
  CHECK(f.send("+8613800138000").response.status == 201);
  CHECK(f.simulator.stats().rejected == 1);
}

TEST_CASE("simulator with fail_rate 1 and 5xx answers 503 until /_control makes it recover") {
  simulator_options options;
  options.fail_rate = 1.0;
  options.faults = {simulator_fault::http_5xx};
  fixture f(options);
  auto r = f.send("+8613800138000");
  CHECK(r.response.status == 503);
  CHECK(body_json(r).at("code") == "503");

  auto control = make_request("POST", url(f.port, "/_control"), R"({"fail_rate":0})");
  CHECK(perform(f.io, f.client, std::move(control)).response.status == 200);
  CHECK(f.send("+8613800138000").response.status == 201);

  auto bad = make_request("POST", url(f.port, "/_control"), R"({"faults":["nonsense"]})");
  CHECK(perform(f.io, f.client, std::move(bad)).response.status == 400);
  auto stats = f.simulator.stats();
  CHECK(stats.received == 2);
  CHECK(stats.faults == 1);
  CHECK(stats.accepted == 1);
}

TEST_CASE("simulator fault draws are deterministic for a seed") {
  auto run = [](std::uint64_t seed) {
    simulator_options options;
    options.fail_rate = 0.5;
    options.faults = {simulator_fault::http_5xx, simulator_fault::http_429};
    options.seed = seed;
    fixture f(options);
    std::vector<int> statuses;
    for (int i = 0; i < 12; ++i) statuses.push_back(f.send("+8613800138000").response.status);
    return statuses;
  };
  const auto a = run(7);
  CHECK(a == run(7));
  CHECK(std::count(a.begin(), a.end(), 201) > 0);
  CHECK(std::count(a.begin(), a.end(), 201) < 12);
}

TEST_CASE("simulator timeout and reset faults give timed_out and connection_lost") {
  simulator_options options;
  options.fail_rate = 1.0;
  options.faults = {simulator_fault::timeout};
  fixture f(options);
  auto req = message(f.port, "+8613800138000", "hi");
  req.timeout = 300ms;
  CHECK(perform(f.io, f.client, std::move(req)).ec == make_error_code(http_errc::timed_out));

  auto control = make_request("POST", url(f.port, "/_control"), R"({"faults":["reset"]})");
  CHECK(perform(f.io, f.client, std::move(control)).response.status == 200);
  CHECK(f.send("+8613800138000").ec == make_error_code(http_errc::connection_lost));
  // The reset request went over the connection pooled by the control request: curl treats a
  // reused connection that dies without a byte of answer as stale and would re-send it on a
  // fresh one; the client refuses that silent second send, so the carrier saw it once and the
  // caller got connection_lost ("may have been delivered").
  auto subs = f.simulator.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[0].fault == "timeout");
  CHECK(subs[1].fault == "reset");
  CHECK(subs[1].status == 0);
}

TEST_CASE("a request whose reused connection dies unanswered reaches the carrier only once") {
  fixture f(simulator_options{});
  // Pool a keep-alive connection, then make the carrier reset every submission.
  REQUIRE(f.send("+8613800138000", "first").response.status == 201);
  auto control =
      make_request("POST", url(f.port, "/_control"), R"({"fail_rate":1,"faults":["reset"]})");
  REQUIRE(perform(f.io, f.client, std::move(control)).response.status == 200);
  for (int i = 0; i < 3; ++i)
    CHECK(f.send("+8613800138001", "second").ec == make_error_code(http_errc::connection_lost));
  // One submission per request: libcurl's silent resend on a fresh connection never went out.
  auto subs = f.simulator.submissions();
  REQUIRE(subs.size() == 4);
  CHECK(subs[0].text == "first");
  for (int i = 1; i < 4; ++i) CHECK(subs[i].fault == "reset");
  // A healthy carrier is still reached over a fresh connection afterwards.
  auto heal = make_request("POST", url(f.port, "/_control"), R"({"fail_rate":0})");
  REQUIRE(perform(f.io, f.client, std::move(heal)).response.status == 200);
  CHECK(f.send("+8613800138002", "third").response.status == 201);
}

TEST_CASE("simulator latency delays answers without blocking the loop") {
  simulator_options options;
  options.latency = 500ms;
  fixture f(options);
  int done = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i)
    f.client.async_perform(message(f.port, "+8613800138000", "x"),
                           [&](boost::system::error_code ec, pigeon::engine::http_response r) {
                             CHECK_FALSE(ec);
                             CHECK(r.status == 201);
                             ++done;
                           });
  REQUIRE(run_until(
      f.io, [&] { return done == 4; }, 5s));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= 500ms);
  CHECK(took < 1800ms);  // served concurrently: one after another would take 2 s
}

namespace {

// A stand-in for pigeon's webhook listener: records what the simulator posts to it.
struct receiver {
  explicit receiver(asio::io_context& io)
      : server(io.get_executor(), [this](pigeon::engine::net::http_request_t req) {
          return record(this, std::move(req));
        }) {
    port = server.start(loopback);
  }
  static asio::awaitable<pigeon::engine::net::http_response_t> record(
      receiver* self, pigeon::engine::net::http_request_t req) {
    self->requests.push_back(req);
    co_return pigeon::engine::net::make_response(req, 200, "", "text/plain");
  }
  pigeon::engine::net::http_server server;
  std::vector<pigeon::engine::net::http_request_t> requests;
  std::uint16_t port = 0;
};

}  // namespace

TEST_CASE("simulator posts a signed delivery report to the submission's status callback") {
  asio::io_context io;
  receiver pigeon_side(io);
  {
    simulator_options options;
    options.webhook_secret = "sim-secret";
    carrier_simulator simulator(io.get_executor(), options);
    curl_multi_client client(io.get_executor(), 4);
    const auto port = simulator.start(loopback);

    json::object body{{"to", "+8613800138000"},
                      {"from", "coffee"},
                      {"text", "hi"},
                      {"ref", "42"},
                      {"status_callback", url(pigeon_side.port, "/webhooks/sandbox/status")}};
    auto req = make_request("POST", url(port, "/messages"), json::serialize(body));
    CHECK(perform(io, client, std::move(req)).response.status == 201);
    REQUIRE(run_until(io, [&] { return !pigeon_side.requests.empty(); }));
    const auto& dlr = pigeon_side.requests.front();
    CHECK(dlr.target() == "/webhooks/sandbox/status");
    CHECK(json::parse(dlr.body()) ==
          json::parse(R"({"id":"SIM-1","ref":"42","status":"delivered"})"));
    CHECK_FALSE(dlr["X-Signature"].empty());
    CHECK_FALSE(dlr["X-Timestamp"].empty());
    REQUIRE(run_until(io, [&] { return simulator.stats().dlrs_sent == 1; }));

    // dlr: none sends nothing; dlr: undelivered reports an error code.
    auto none = make_request("POST", url(port, "/_control"), R"({"dlr":"none"})");
    CHECK(perform(io, client, std::move(none)).response.status == 200);
    CHECK(perform(io, client, make_request("POST", url(port, "/messages"), json::serialize(body)))
              .response.status == 201);
    auto undelivered = make_request("POST", url(port, "/_control"), R"({"dlr":"undelivered"})");
    CHECK(perform(io, client, std::move(undelivered)).response.status == 200);
    CHECK(perform(io, client, make_request("POST", url(port, "/messages"), json::serialize(body)))
              .response.status == 201);
    REQUIRE(run_until(io, [&] { return pigeon_side.requests.size() == 2; }));
    CHECK(json::parse(pigeon_side.requests[1].body()) ==
          json::parse(R"({"id":"SIM-3","ref":"42","status":"undelivered","error_code":"30003"})"));
    auto bad = make_request("POST", url(port, "/_control"), R"({"dlr":"maybe"})");
    CHECK(perform(io, client, std::move(bad)).response.status == 400);
    client.shutdown();
    simulator.stop();
    run_for(io, 20ms);
  }
  pigeon_side.server.stop();
  run_for(io, 20ms);
}

TEST_CASE("simulator forwards a typed-in inbound message to the inbound URL") {
  asio::io_context io;
  receiver pigeon_side(io);
  {
    simulator_options options;
    options.inbound_url = url(pigeon_side.port, "/webhooks/sandbox/inbound");
    carrier_simulator simulator(io.get_executor(), options);
    curl_multi_client client(io.get_executor(), 4);
    const auto port = simulator.start(loopback);
    auto mo = make_request("POST", url(port, "/_mo"),
                           R"({"from":"+8613800138000","to":"10690000","text":"退订"})");
    auto r = perform(io, client, std::move(mo));
    CHECK(r.response.status == 200);
    CHECK(json::parse(r.response.body) == json::parse(R"({"id":"SIM-MO-1","status":200})"));
    REQUIRE(pigeon_side.requests.size() == 1);
    CHECK(
        json::parse(pigeon_side.requests[0].body()) ==
        json::parse(R"({"id":"SIM-MO-1","from":"+8613800138000","to":"10690000","text":"退订"})"));
    CHECK(pigeon_side.requests[0]["X-Signature"].empty());  // no secret, no signature
    auto missing = make_request("POST", url(port, "/_mo"), R"({"text":"x"})");
    CHECK(perform(io, client, std::move(missing)).response.status == 400);
    client.shutdown();
    simulator.stop();
    run_for(io, 20ms);
  }
  pigeon_side.server.stop();
  run_for(io, 20ms);
}

TEST_CASE("simulator refuses /_mo without an inbound URL") {
  fixture f(simulator_options{});
  auto mo = make_request("POST", url(f.port, "/_mo"), R"({"from":"+1","text":"x"})");
  CHECK(perform(f.io, f.client, std::move(mo)).response.status == 409);
}
