#pragma once

// http_server: a small HTTP/1.1 server (Beast, coroutines) for webhooks, admin endpoints and
// the carrier simulator.
//
// The application is a request_handler: a pure request -> response coroutine, testable without
// a socket. The server runs one listener coroutine and one session coroutine per connection
// (keep-alive; idle/header, body-read and write timeouts; a body limit answered with 413).
// A handler may throw drop_connection to close the connection without answering (the socket is
// reset); any other exception is logged and answered with 500, and the connection is closed.
// A HEAD request is answered with the headers of the handler's response (its Content-Length
// too) and no body, so a handler answers HEAD as it answers GET.
//
// Threading: construct, start, stop and destroy on the thread running the executor's
// io_context; handlers run there too. Lifetime: stop() (also run by the destructor) closes the
// acceptor at once and cancels every session, including handlers still awaiting, at the loop's
// next turn; their coroutine frames finish on the loop afterwards, so keep running the
// io_context (or destroy it) after stop().
// Failure: start() throws std::runtime_error naming the listener (server_options::name) and
// the address when it cannot bind or listen ("webhooks listener: cannot listen on
// 127.0.0.1:8080: Address already in use ...").

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pigeon::engine::net {

using http_request_t = boost::beast::http::request<boost::beast::http::string_body>;
using http_response_t = boost::beast::http::response<boost::beast::http::string_body>;
using request_handler = std::function<boost::asio::awaitable<http_response_t>(http_request_t)>;

// The server sets this request header to the peer's IP address (replacing any value the client
// sent), so a pure handler can check where a request came from.
inline constexpr std::string_view peer_address_header = "X-Pigeon-Peer-Address";

// Thrown by a request_handler: close the connection with a reset and send no response.
class drop_connection : public std::runtime_error {
 public:
  drop_connection() : std::runtime_error("connection dropped by handler") {}
};

struct server_options {
  std::size_t body_limit = 1024 * 1024;            // larger bodies get 413
  std::uint32_t header_limit = 16 * 1024;          // larger headers close the connection
  std::chrono::milliseconds idle_timeout{30000};   // waiting for (the header of) a request
  std::chrono::milliseconds read_timeout{30000};   // reading a request body
  std::chrono::milliseconds write_timeout{30000};  // writing a response
  std::string name = "http";                       // in log lines
  // Open connections at most (0: no cap). A connection accepted beyond it is closed at once
  // (counted in refused_connections, logged at most every 10 s), so idle or slow clients cannot
  // take the file descriptors the store and the carriers need.
  std::size_t max_connections = 0;
};

struct connection_stats {
  std::size_t open = 0;
  std::size_t cap = 0;                                   // 0: none
  std::uint64_t refused = 0;                             // since start
  std::chrono::steady_clock::time_point last_refused{};  // epoch when none
};

class http_server {
 public:
  http_server(boost::asio::any_io_executor executor, request_handler handler,
              server_options options = {});
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds and starts accepting; returns the bound port (port 0 picks an ephemeral one).
  std::uint16_t start(const boost::asio::ip::tcp::endpoint& endpoint);
  // Closes the acceptor and cancels every session (on the loop, see above). Idempotent.
  void stop();
  // Connections currently open.
  std::size_t session_count() const;
  // Open connections, the cap and the connections refused at it. On the server's thread.
  connection_stats connections() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// A response matching the request's version and keep-alive, with a body and content type.
http_response_t make_response(const http_request_t& request, unsigned status, std::string body,
                              std::string_view content_type = "application/json");

// Logs an exception a co_spawned coroutine ended with; cancellation (operation_aborted) is not
// logged. Use it in co_spawn completion handlers instead of `detached`.
void log_coroutine_exception(std::string_view what, const std::exception_ptr& e);

}  // namespace pigeon::engine::net
