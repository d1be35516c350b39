#pragma once

// The admin endpoints, as a pure request -> response function (no socket), so the admin
// listener can chain it with other handlers (the /v1 API): a request that is not ours yields
// nullopt.
//
//   GET /metrics  Prometheus text exposition (version 0.0.4)
//   GET /healthz  200 {"status":"ok"} while the engine runs, 503 while it stops
//   GET /status   the JSON of `pigeon status --json` (200 whatever the verdict; read "status")
//   GET /         HTML: every campaign with its headline rates, linking to its report
//   GET /reports/{campaign}  HTML: the campaign's report (`pigeon report NAME --html`); 404
//                 naming the campaigns there are when there is no such campaign
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
#include <utility>
#include <vector>

namespace pigeon::engine::ops {

using admin_request = boost::beast::http::request<boost::beast::http::string_body>;
using admin_response = boost::beast::http::response<boost::beast::http::string_body>;

struct admin_sources {
  std::string token;                     // empty: no authorization
  std::function<std::string()> metrics;  // rendered registry
  std::function<bool()> healthy;         // engine running
  // Why a running engine is not healthy (critical: /healthz answers 503 with it), or "".
  std::function<std::string()> problem;
  std::function<boost::asio::awaitable<boost::json::object>()> status;  // may throw: 503
  // The HTML pages: GET / (nullopt) and GET /reports/{campaign} (the name percent-decoded), as
  // {HTTP status, page}. May throw: 503.
  std::function<boost::asio::awaitable<std::pair<int, std::string>>(std::optional<std::string>)>
      pages;
};

// The response to `request` when its path is one of ours, else nullopt.
boost::asio::awaitable<std::optional<admin_response>> handle_admin(admin_request request,
                                                                   const admin_sources& sources);

// A 401 when `token` is set and the request does not carry "Authorization: Bearer <token>";
// nullopt when it may proceed. Every endpoint of the admin listener checks it.
std::optional<admin_response> refuse_unauthorized(const admin_request& request,
                                                  std::string_view token);

// True when `header` is "Bearer <token>" (the scheme in any case, RFC 9110; constant time in
// the header's length).
bool bearer_matches(std::string_view header, std::string_view token);

// The Host values the admin listener answers to ("host:port", lower case): its own address,
// localhost, 127.0.0.1 and [::1] on its bound port, and the configured `admin_hosts` (a name
// without a port stands for the bound port and, on port 80, for itself).
std::vector<std::string> admin_host_names(const std::string& listen_host, std::uint16_t port,
                                          const std::vector<std::string>& configured);

// Refuses what a page on another site could make a browser send to the admin listener: a
// request whose Host is not one of `hosts` (DNS rebinding: 421), an `Origin` that is not
// http(s)://one of `hosts` (403), and a write (any method but GET/HEAD/OPTIONS) whose
// Content-Type is not application/json (415: a form or text/plain POST needs no CORS
// preflight). A request without Host (HTTP/1.0 tools) passes the Host check. nullopt when the
// request may proceed. Every endpoint of the admin listener checks it, before authorization.
std::optional<admin_response> refuse_cross_site(const admin_request& request,
                                                const std::vector<std::string>& hosts);

}  // namespace pigeon::engine::ops
