#include "engine/net/http_server.hpp"

#include <doctest/doctest.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "engine/net/curl_multi_client.hpp"
#include "tests/net/net_test_support.hpp"
#include "tests/net/server_test_support.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using pigeon::engine::net::curl_multi_client;
using pigeon::engine::net::http_request_t;
using pigeon::engine::net::http_response_t;
using pigeon::engine::net::http_server;
using pigeon::engine::net::make_response;
using namespace pigeon::engine::net::test;

namespace {

asio::awaitable<http_response_t> size_of_body(http_request_t req) {
  co_return make_response(req, 200, std::to_string(req.body().size()), "text/plain");
}

asio::awaitable<http_response_t> failing(http_request_t req) {
  if (req.target() == "/boom") throw std::runtime_error("handler exploded");
  co_return make_response(req, 200, "fine", "text/plain");
}

}  // namespace

TEST_CASE("a request handler is a pure function testable without a socket") {
  asio::io_context io;
  http_request_t req{http::verb::post, "/x", 11};
  req.body() = "12345";
  std::optional<http_response_t> res;
  asio::co_spawn(io, size_of_body(std::move(req)), [&](std::exception_ptr e, http_response_t r) {
    CHECK_FALSE(e);
    res = std::move(r);
  });
  io.run();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(res->body() == "5");
}

TEST_CASE("server answers 413 to a body over the limit") {
  asio::io_context io;
  http_server server(io.get_executor(), size_of_body);
  const auto port = server.start(loopback);
  curl_multi_client client(io.get_executor(), 2);

  auto ok =
      perform(io, client, make_request("POST", url(port, "/"), std::string(1024 * 1024, 'a')));
  CHECK_FALSE(ok.ec);
  CHECK(ok.response.status == 200);
  CHECK(ok.response.body == std::to_string(1024 * 1024));

  auto big =
      perform(io, client, make_request("POST", url(port, "/"), std::string(2 * 1024 * 1024, 'a')));
  CHECK_FALSE(big.ec);
  CHECK(big.response.status == 413);
}

TEST_CASE("server honours a configured body limit") {
  asio::io_context io;
  pigeon::engine::net::server_options options;
  options.body_limit = 100;
  http_server server(io.get_executor(), size_of_body, options);
  const auto port = server.start(loopback);
  curl_multi_client client(io.get_executor(), 2);
  CHECK(perform(io, client, make_request("POST", url(port, "/"), std::string(100, 'a')))
            .response.status == 200);
  CHECK(perform(io, client, make_request("POST", url(port, "/"), std::string(101, 'a')))
            .response.status == 413);
}

namespace {

// Sends `raw` bytes on a fresh blocking connection and returns everything the server answered
// before closing (its io_context runs on another thread meanwhile).
std::string exchange_raw(std::uint16_t port, const std::string& raw) {
  asio::io_context client_io;
  asio::ip::tcp::socket socket(client_io);
  socket.connect({asio::ip::address_v4::loopback(), port});
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(raw), ec);
  std::string answer;
  std::array<char, 4096> chunk;
  for (;;) {
    auto n = socket.read_some(asio::buffer(chunk), ec);
    answer.append(chunk.data(), n);
    if (ec) break;
  }
  return answer;
}

}  // namespace

TEST_CASE("a malformed or oversized request gets 400 or 431 with a reason, not a reset") {
  asio::io_context io;
  http_server server(io.get_executor(), size_of_body);
  const auto port = server.start(loopback);
  auto guard = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  auto status_line = [&](const std::string& raw) {
    auto answer = exchange_raw(port, raw);
    return answer.substr(0, answer.find("\r\n"));
  };
  CHECK(status_line("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') +
                    "\r\n\r\n") == "HTTP/1.1 431 Request Header Fields Too Large");
  std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 3000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(status_line(many + "\r\n") == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(status_line("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\nabc\r\n0\r\n\r\n") == "HTTP/1.1 400 Bad Request");
  CHECK(status_line("GET /\r\n\r\n") == "HTTP/1.1 400 Bad Request");
  CHECK(status_line("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2"
                    "\r\n\r\nab") == "HTTP/1.1 400 Bad Request");
  // A well-formed request on the same server still works.
  CHECK(status_line("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close"
                    "\r\n\r\nabc") == "HTTP/1.1 200 OK");
  asio::post(io, [&] { server.stop(); });
  guard.reset();
  runner.join();
}

TEST_CASE("a HEAD request gets the GET's headers, its Content-Length included, and no body") {
  asio::io_context io;
  http_server server(io.get_executor(), [](http_request_t req) -> asio::awaitable<http_response_t> {
    co_return make_response(req, 200, "twelve bytes", "image/png");
  });
  const auto port = server.start(loopback);
  auto guard = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  auto get = exchange_raw(port, "GET /a.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto head = exchange_raw(port, "HEAD /a.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(get.ends_with("\r\n\r\ntwelve bytes"));
  CHECK(head.find("Content-Length: 12\r\n") != std::string::npos);
  CHECK(head.find("Content-Type: image/png\r\n") != std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));  // no body
  CHECK(head.substr(0, head.find("\r\n\r\n")) == get.substr(0, get.find("\r\n\r\n")));
  asio::post(io, [&] { server.stop(); });
  guard.reset();
  runner.join();
}

TEST_CASE("connections beyond the cap are closed at once and counted; freed places are reused") {
  asio::io_context io;
  pigeon::engine::net::server_options options;
  options.max_connections = 2;
  http_server server(io.get_executor(), never_answer, options);
  const auto port = server.start(loopback);
  auto guard = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  asio::io_context client_io;
  auto connect = [&] {
    auto socket = std::make_unique<asio::ip::tcp::socket>(client_io);
    socket->connect({asio::ip::address_v4::loopback(), port});
    return socket;
  };
  auto open_now = [&] {
    std::promise<pigeon::engine::net::connection_stats> p;
    asio::post(io, [&] { p.set_value(server.connections()); });
    return p.get_future().get();
  };
  auto a = connect();
  auto b = connect();
  for (int i = 0; i < 200 && open_now().open < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // The third is accepted and closed: the client reads end of stream (or a reset) at once.
  auto c = connect();
  std::array<char, 16> buf;
  boost::system::error_code ec;
  c->read_some(asio::buffer(buf), ec);
  CHECK(ec);
  auto stats = open_now();
  CHECK(stats.open == 2);
  CHECK(stats.cap == 2);
  CHECK(stats.refused == 1);
  // A place freed is taken by the next connection.
  a->close();
  for (int i = 0; i < 200 && open_now().open > 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto d = connect();
  for (int i = 0; i < 200 && open_now().open < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(open_now().open == 2);
  CHECK(open_now().refused == 1);
  asio::post(io, [&] { server.stop(); });
  guard.reset();
  runner.join();
}

TEST_CASE("server keeps one connection alive across sequential requests") {
  asio::io_context io;
  http_server server(io.get_executor(), size_of_body);
  const auto port = server.start(loopback);
  curl_multi_client client(io.get_executor(), 1);
  for (int i = 0; i < 5; ++i) {
    auto r = perform(io, client, make_request("POST", url(port, "/"), "abc"));
    CHECK(r.response.body == "3");
    CHECK(server.session_count() == 1);
  }
}

TEST_CASE("server answers 500 when the handler throws and keeps serving") {
  asio::io_context io;
  http_server server(io.get_executor(), failing);
  const auto port = server.start(loopback);
  curl_multi_client client(io.get_executor(), 2);
  auto boom = perform(io, client, make_request("GET", url(port, "/boom")));
  CHECK_FALSE(boom.ec);
  CHECK(boom.response.status == 500);
  auto fine = perform(io, client, make_request("GET", url(port, "/")));
  CHECK(fine.response.status == 200);
}

TEST_CASE("server stop closes the listener and ends sessions") {
  asio::io_context io;
  http_server server(io.get_executor(), size_of_body);
  const auto port = server.start(loopback);
  {
    curl_multi_client client(io.get_executor(), 2);
    CHECK(perform(io, client, make_request("GET", url(port, "/"))).response.status == 200);
    CHECK(server.session_count() == 1);
    server.stop();
    CHECK(run_until(
        io, [&] { return server.session_count() == 0; }, 2s));
    auto after = perform(io, client, make_request("GET", url(port, "/")));
    CHECK(after.ec == pigeon::engine::make_error_code(pigeon::engine::http_errc::connect_failed));
  }
}
