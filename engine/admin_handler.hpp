#pragma once

// The admin endpoints, as a pure request -> response function (no socket), so the admin
// listener can chain it with other handlers (the /v1 API): a request that is not ours yields
// nullopt.
//
//   GET /metrics  Prometheus text exposition (version 0.0.4)
//   GET /healthz  200 {"status":"ok"} while the engine runs, 503 while it stops
//   GET /status   the JSON of `pigeon status --json` (200 whatever the verdict; read "status")
//
// Authorization: when `token` is set, every admin request needs `Authorization: Bearer
// <token>` (401 otherwise, compared in constant time). Methods other than GET/HEAD get 405.
//
// Threading: call on the engine's io_context thread; the sources run there.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>

namespace pigeon::engine {

using admin_request = boost::beast::http::request<boost::beast::http::string_body>;
using admin_response = boost::beast::http::response<boost::beast::http::string_body>;

struct admin_sources {
  std::string token;                     // empty: no authorization
  std::function<std::string()> metrics;  // rendered registry
  std::function<bool()> healthy;         // engine running
  // Why a running engine is not healthy (critical: /healthz answers 503 with it), or "".
  std::function<std::string()> problem;
  std::function<boost::asio::awaitable<boost::json::object>()> status;  // may throw: 503
};

// The response to `request` when its path is one of ours, else nullopt.
boost::asio::awaitable<std::optional<admin_response>> handle_admin(admin_request request,
                                                                   const admin_sources& sources);

// A 401 when `token` is set and the request does not carry "Authorization: Bearer <token>";
// nullopt when it may proceed. Every endpoint of the admin listener checks it.
std::optional<admin_response> refuse_unauthorized(const admin_request& request,
                                                  std::string_view token);

// True when `header` is exactly "Bearer <token>" (constant time in the header's length).
bool bearer_matches(std::string_view header, std::string_view token);

}  // namespace pigeon::engine
