#pragma once

// Helpers for the net tests that run a real http_server (Beast: include only where a server is
// started): the loopback endpoint on a free port, and a handler that never answers in time.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "engine/net/http_server.hpp"

namespace pigeon::engine::net::test {

// 127.0.0.1 on a port the system picks.
inline const boost::asio::ip::tcp::endpoint loopback{boost::asio::ip::address_v4::loopback(), 0};

// Answers after 30 s: longer than any client timeout or test.
inline boost::asio::awaitable<http_response_t> never_answer(http_request_t req) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                  std::chrono::seconds(30));
  co_await timer.async_wait(boost::asio::use_awaitable);
  co_return make_response(req, 200, "late");
}

}  // namespace pigeon::engine::net::test
