// threaded_http_client: libcurl on an I/O thread of its own; completions back on the caller's.
#include "engine/net/threaded_http_client.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>
#include <thread>
#include <vector>

#include "engine/net/http_server.hpp"
#include "tests/net/net_test_support.hpp"
#include "tests/net/server_test_support.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pigeon::engine::http_errc;
using pigeon::engine::http_response;
using pigeon::engine::make_error_code;
using pigeon::engine::net::http_request_t;
using pigeon::engine::net::http_response_t;
using pigeon::engine::net::http_server;
using pigeon::engine::net::make_response;
using pigeon::engine::net::threaded_http_client;
using namespace pigeon::engine::net::test;

namespace {

asio::awaitable<http_response_t> echo_body(http_request_t req) {
  co_return make_response(req, 200, req.body(), "text/plain");
}

}  // namespace

TEST_CASE("requests complete exactly once each, on the caller's thread, not the I/O thread") {
  asio::io_context io;
  http_server server(io.get_executor(), echo_body);
  const auto port = server.start(loopback);
  threaded_http_client client(io.get_executor(), 8);
  const auto caller = std::this_thread::get_id();
  std::vector<int> calls(200, 0);
  std::set<std::string> bodies;
  bool on_caller = true;
  for (int i = 0; i < 200; ++i) {
    client.async_perform(make_request("POST", url(port, "/m"), "n" + std::to_string(i)),
                         [&, i](boost::system::error_code ec, http_response r) {
                           ++calls[i];
                           on_caller = on_caller && std::this_thread::get_id() == caller;
                           if (!ec && r.status == 200) bodies.insert(r.body);
                         });
  }
  CHECK(client.in_flight() == 200);
  REQUIRE(run_until(io, [&] { return bodies.size() == 200; }));
  run_for(io, 50ms);
  for (int c : calls) CHECK(c == 1);
  CHECK(on_caller);
  CHECK(bodies.count("n0") == 1);
  CHECK(bodies.count("n199") == 1);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("a signal on the caller's cancellation slot cancels the transfer on the I/O thread") {
  asio::io_context io;
  http_server server(io.get_executor(), never_answer);
  const auto port = server.start(loopback);
  threaded_http_client client(io.get_executor(), 2);
  asio::cancellation_signal signal;
  int calls = 0;
  boost::system::error_code got;
  client.async_perform(
      make_request("POST", url(port, "/m"), "x"),
      asio::bind_cancellation_slot(signal.slot(), [&](boost::system::error_code ec, http_response) {
        ++calls;
        got = ec;
      }));
  asio::steady_timer timer(io, 100ms);
  timer.async_wait(
      [&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  REQUIRE(run_until(
      io, [&] { return calls > 0; }, 3s));
  CHECK(got == make_error_code(http_errc::cancelled));
  run_for(io, 100ms);
  CHECK(calls == 1);
  CHECK(client.in_flight() == 0);
  // A late signal, after completion, reaches nothing.
  signal.emit(asio::cancellation_type::terminal);
  run_for(io, 50ms);
  CHECK(calls == 1);
  server.stop();
  run_for(io, 50ms);
}

TEST_CASE("shutdown completes pending transfers with cancelled, and later requests too") {
  asio::io_context io;
  http_server server(io.get_executor(), never_answer);
  const auto port = server.start(loopback);
  std::vector<boost::system::error_code> results;
  threaded_http_client client(io.get_executor(), 2);
  for (int i = 0; i < 3; ++i)
    client.async_perform(
        make_request("POST", url(port, "/m"), "x"),
        [&](boost::system::error_code ec, http_response) { results.push_back(ec); });
  run_for(io, 100ms);
  CHECK(results.empty());
  client.shutdown();  // joins the I/O thread: the completions are queued on the caller's loop
  CHECK(results.empty());
  REQUIRE(run_until(
      io, [&] { return results.size() == 3; }, 3s));
  auto after = perform(io, client, make_request("GET", url(port, "/")));
  CHECK(after.calls == 1);
  CHECK(after.ec == make_error_code(http_errc::cancelled));
  for (const auto& ec : results) CHECK(ec == make_error_code(http_errc::cancelled));
  CHECK(client.in_flight() == 0);
  server.stop();
  run_for(io, 50ms);
}

TEST_CASE("the caller's loop does not run out of work while a transfer is on the I/O thread") {
  // The server lives on a loop of its own, so the caller's io_context has no work but the
  // request: run() must not return before the answer.
  asio::io_context server_io;
  http_server server(server_io.get_executor(), echo_body);
  const auto port = server.start(loopback);
  std::thread server_thread([&] { server_io.run(); });
  asio::io_context io;
  threaded_http_client client(io.get_executor(), 2);
  int status = 0;
  client.async_perform(make_request("POST", url(port, "/m"), "ok"),
                       [&](boost::system::error_code, http_response r) { status = r.status; });
  io.run();  // returns once the handler ran
  CHECK(status == 200);
  asio::post(server_io, [&] { server.stop(); });
  server_io.stop();
  server_thread.join();
}
