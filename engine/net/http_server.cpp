#include "engine/net/http_server.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <map>
#include <optional>
#include <stdexcept>

namespace pigeon::engine::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor ex, request_handler h, server_options o)
      : ex(ex), handler(std::move(h)), options(std::move(o)), acceptor(ex) {}

  void spawn_session(tcp::socket socket);
  static asio::awaitable<void> run_session(tcp::socket socket, std::shared_ptr<impl> self);
  static asio::awaitable<void> run_listener(std::shared_ptr<impl> self);

  asio::any_io_executor ex;
  request_handler handler;
  server_options options;
  tcp::acceptor acceptor;
  std::uint64_t next_session = 0;
  // One cancellation signal per live session; std::map nodes do not move.
  std::map<std::uint64_t, asio::cancellation_signal> sessions;
  std::uint64_t refused = 0;  // connections closed at the cap
  std::chrono::steady_clock::time_point last_refused{}, last_refusal_log{};
  std::uint64_t refused_unlogged = 0;
};

void log_coroutine_exception(std::string_view what, const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& error) {
    if (error.code() != asio::error::operation_aborted) spdlog::error("{}: {}", what, error.what());
  } catch (const std::exception& error) {
    spdlog::error("{}: {}", what, error.what());
  } catch (...) {
    spdlog::error("{}: unknown exception", what);
  }
}

http_response_t make_response(const http_request_t& request, unsigned status, std::string body,
                              std::string_view content_type) {
  http_response_t res{static_cast<http::status>(status), request.version()};
  res.set(http::field::content_type, content_type);
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

namespace {

void reset(beast::tcp_stream& stream) {
  error_code ignored;
  stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
  stream.socket().close(ignored);
}

// After refusing a request whose body we will not read, half-close and discard what the client
// is still sending for a while: closing with unread data makes the kernel send a reset, and the
// client would see "connection reset" instead of our answer.
asio::awaitable<void> lingering_close(beast::tcp_stream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(2));
  std::array<char, 16 * 1024> sink;
  for (std::size_t total = 0; total < 64 * 1024 * 1024;) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (read_ec) break;
    total += n;
  }
  stream.socket().close(ec);
}

// The answer to a request the parser refused: {status, reason}, or nullopt for errors that are
// not the request's fault (timeouts, resets, a client that went away mid-request).
std::optional<std::pair<unsigned, const char*>> malformed_request_status(error_code ec) {
  if (!ec || ec.category() != make_error_code(http::error::bad_method).category())
    return std::nullopt;
  switch (static_cast<http::error>(ec.value())) {
    case http::error::header_limit:
    case http::error::buffer_overflow:
      return std::pair{431u, "request header fields too large"};
    case http::error::bad_line_ending:
    case http::error::bad_method:
    case http::error::bad_target:
    case http::error::bad_version:
    case http::error::bad_field:
    case http::error::bad_value:
    case http::error::bad_content_length:
    case http::error::bad_transfer_encoding:
    case http::error::bad_chunk:
    case http::error::bad_chunk_extension:
    case http::error::bad_obs_fold:
    case http::error::multiple_content_length:
    case http::error::unexpected_body:
      return std::pair{400u, "malformed HTTP/1.1 request"};
    default:
      return std::nullopt;
  }
}

}  // namespace

asio::awaitable<void> http_server::impl::run_session(tcp::socket socket,
                                                     std::shared_ptr<impl> self) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  const server_options& options = self->options;
  // The peer's address, once per connection (it cannot change on a connected socket).
  std::string peer;
  {
    boost::system::error_code peer_ec;
    auto endpoint = stream.socket().remote_endpoint(peer_ec);
    if (!peer_ec) {
      auto address = endpoint.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      peer = address.to_string();
    }
  }
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    parser.header_limit(options.header_limit);

    stream.expires_after(options.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (!ec && parser.get()[http::field::expect] == "100-continue" &&
        parser.get().payload_size().value_or(0) <= options.body_limit) {
      http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
      std::tie(ec, n) = co_await http::async_write(stream, cont, use_tuple);
    }
    if (!ec && !parser.is_done()) {
      stream.expires_after(options.read_timeout);
      std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_tuple);
    }
    if (ec == http::error::body_limit) {
      auto res = make_response(parser.get(), 413, R"({"message":"request body too large"})");
      res.keep_alive(false);
      stream.expires_after(options.write_timeout);
      co_await http::async_write(stream, res, use_tuple);
      co_await lingering_close(stream);
      co_return;
    }
    if (ec == http::error::end_of_stream) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    if (auto refusal = malformed_request_status(ec)) {
      // A request we cannot parse gets an answer saying why, not a reset (RFC 9112 section 2.2
      // and RFC 6585 section 5); the connection closes after it.
      http::response<http::string_body> res{static_cast<http::status>(refusal->first), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = std::string(R"({"message":")") + refusal->second + "\"}";
      res.keep_alive(false);
      res.prepare_payload();
      stream.expires_after(options.write_timeout);
      co_await http::async_write(stream, res, use_tuple);
      co_await lingering_close(stream);
      co_return;
    }
    if (ec) co_return;  // timeout, reset, a client gone mid-request, cancellation

    http_request_t request = parser.release();
    // The peer's address, for handlers that check it (webhook source allow-lists). Whatever a
    // client sent under this name is replaced: only the server sets it.
    request.erase(peer_address_header);
    if (!peer.empty()) request.set(peer_address_header, peer);
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    const bool head = request.method() == http::verb::head;
    stream.expires_never();  // the handler may take its time (simulated latency)

    http_response_t response;
    bool drop = false;
    bool failed = false;
    std::string failure;
    try {
      response = co_await self->handler(std::move(request));
    } catch (const drop_connection&) {
      drop = true;
    } catch (const std::exception& error) {
      failed = true;
      failure = error.what();
    }
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
      co_return;  // stopping: a cancelled handler is not a failure
    if (drop) {
      reset(stream);
      co_return;
    }
    if (failed) {
      spdlog::error("{}: request handler failed: {}", options.name, failure);
      response = http_response_t{http::status::internal_server_error, version};
      response.set(http::field::content_type, "application/json");
      response.body() = R"({"message":"internal error"})";
      response.keep_alive(false);
    }
    response.version(version);
    response.keep_alive(keep_alive && response.keep_alive());
    response.prepare_payload();
    if (head) {
      // HEAD: the GET's headers, Content-Length included, and no body (RFC 9110 9.3.2).
      const auto length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    const bool close = !response.keep_alive();

    stream.expires_after(options.write_timeout);
    std::tie(ec, n) = co_await http::async_write(stream, response, use_tuple);
    if (ec) co_return;
    if (close) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

asio::awaitable<void> http_server::impl::run_listener(std::shared_ptr<impl> self) {
  for (;;) {
    auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
    if (!self->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {  // e.g. out of file descriptors: back off instead of spinning
      spdlog::warn("{}: accept failed: {}", self->options.name, ec.message());
      asio::steady_timer pause(self->ex, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (self->options.max_connections > 0 &&
        self->sessions.size() >= self->options.max_connections) {
      error_code ignored;
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      ++self->refused;
      ++self->refused_unlogged;
      const auto now = std::chrono::steady_clock::now();
      self->last_refused = now;
      if (now - self->last_refusal_log >= std::chrono::seconds(10)) {
        spdlog::warn("{}: {} connections open, the cap (max_connections): closed {} new ones",
                     self->options.name, self->sessions.size(), self->refused_unlogged);
        self->refused_unlogged = 0;
        self->last_refusal_log = now;
      }
      continue;
    }
    self->spawn_session(std::move(socket));
  }
}

connection_stats http_server::connections() const {
  return {impl_->sessions.size(), impl_->options.max_connections, impl_->refused,
          impl_->last_refused};
}

void http_server::impl::spawn_session(tcp::socket socket) {
  const auto id = next_session++;
  auto& signal = sessions[id];
  asio::co_spawn(ex, run_session(std::move(socket), shared_from_this()),
                 asio::bind_cancellation_slot(signal.slot(), [weak = weak_from_this(),
                                                              id](std::exception_ptr e) {
                   auto self = weak.lock();
                   log_coroutine_exception(self ? self->options.name + " session" : "session", e);
                   if (self) self->sessions.erase(id);
                 }));
}

http_server::http_server(asio::any_io_executor executor, request_handler handler,
                         server_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(handler), std::move(options))) {}

http_server::~http_server() { stop(); }

std::uint16_t http_server::start(const tcp::endpoint& endpoint) {
  auto& acceptor = impl_->acceptor;
  // Failures name the listener and the address, in words: a port clash is a configuration
  // problem the operator fixes, not a stack of Asio internals.
  error_code ec;
  auto fail = [&](const char* what) {
    error_code ignored;
    acceptor.close(ignored);
    auto address = endpoint.address().is_v6() ? "[" + endpoint.address().to_string() + "]"
                                              : endpoint.address().to_string();
    std::string text = impl_->options.name + " listener: cannot " + what + " " + address + ":" +
                       std::to_string(endpoint.port()) + ": " + ec.message();
    if (ec == asio::error::address_in_use)
      text += " (another program, or another pigeon serve, is listening there)";
    throw std::runtime_error(text);
  };
  if (acceptor.open(endpoint.protocol(), ec)) fail("open a socket for");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec)) fail("listen on");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) fail("listen on");
  asio::co_spawn(impl_->ex, impl::run_listener(impl_),
                 [name = impl_->options.name](std::exception_ptr e) {
                   log_coroutine_exception(name + " listener", e);
                 });
  return acceptor.local_endpoint().port();
}

void http_server::stop() {
  error_code ignored;
  impl_->acceptor.close(ignored);
  // The sessions are cancelled from a handler on the loop, never directly from here: co_spawn's
  // cancellation handler forwards a signal with asio::dispatch, which outside the loop posts a
  // call holding a pointer into the session's signal, and a session that ended before that call
  // ran had already erased its signal (a use after free, seen as a rare SIGSEGV in the net tests).
  // On the loop the forwarding runs inline, and a session that ended is no longer in the map.
  asio::post(impl_->ex, [self = impl_] {
    // Emitting may run completion handlers that erase from the map: emit over a snapshot of ids.
    std::vector<std::uint64_t> ids;
    for (auto& [id, signal] : self->sessions) ids.push_back(id);
    for (auto id : ids)
      if (auto it = self->sessions.find(id); it != self->sessions.end())
        it->second.emit(asio::cancellation_type::terminal);
  });
}

std::size_t http_server::session_count() const { return impl_->sessions.size(); }

}  // namespace pigeon::engine::net
