#pragma once

// Helpers for the net tests: bounded loops over a single-threaded io_context, one-shot requests.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/model/http.hpp"

namespace pigeon::engine::net::test {

// Runs the io_context until pred() holds or `limit` passes; returns pred().
template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred pred,
               std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// Runs the loop for a while regardless (to catch late, duplicate completions).
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  run_until(
      io, [] { return false; }, d);
}

struct outcome {
  int calls = 0;
  boost::system::error_code ec;
  engine::http_response response;
};

inline outcome perform(boost::asio::io_context& io, engine::http_client& client,
                       engine::http_request request) {
  auto result = std::make_shared<outcome>();
  client.async_perform(std::move(request),
                       [result](boost::system::error_code ec, engine::http_response response) {
                         ++result->calls;
                         result->ec = ec;
                         result->response = std::move(response);
                       });
  run_until(io, [&] { return result->calls > 0; });
  return *result;
}

inline std::string url(std::uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

inline engine::http_request make_request(
    std::string method, std::string url, std::string body = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  engine::http_request r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  r.timeout = timeout;
  return r;
}

}  // namespace pigeon::engine::net::test
