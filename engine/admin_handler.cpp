#include "engine/admin_handler.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/serialize.hpp>

namespace pigeon::engine {

namespace {

namespace http = boost::beast::http;

admin_response respond(const admin_request& req, http::status status, std::string body,
                       std::string_view content_type) {
  admin_response res{status, req.version()};
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  if (req.method() != http::verb::head) res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

admin_response json_error(const admin_request& req, http::status status, const std::string& why) {
  boost::json::object o{{"error", why}};
  return respond(req, status, boost::json::serialize(o) + "\n", "application/json");
}

}  // namespace

bool bearer_matches(std::string_view header, std::string_view token) {
  std::string expected = "Bearer " + std::string(token);
  // Constant time over the header: no early exit on the first differing byte.
  unsigned diff = header.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < header.size(); ++i)
    diff |= static_cast<unsigned char>(header[i]) ^
            static_cast<unsigned char>(i < expected.size() ? expected[i] : 0);
  return diff == 0 && !token.empty();
}

std::optional<admin_response> refuse_unauthorized(const admin_request& req,
                                                  std::string_view token) {
  if (token.empty()) return std::nullopt;
  auto auth = req[http::field::authorization];
  if (bearer_matches(std::string_view(auth.data(), auth.size()), token)) return std::nullopt;
  auto res = json_error(req, http::status::unauthorized,
                        "admin endpoints need Authorization: Bearer <admin_token>");
  res.set(http::field::www_authenticate, "Bearer");
  return res;
}

boost::asio::awaitable<std::optional<admin_response>> handle_admin(admin_request req,
                                                                   const admin_sources& sources) {
  std::string_view target(req.target().data(), req.target().size());
  auto path = target.substr(0, target.find('?'));
  if (path != "/metrics" && path != "/healthz" && path != "/status") co_return std::nullopt;
  if (auto refused = refuse_unauthorized(req, sources.token)) co_return std::move(*refused);
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = json_error(req, http::status::method_not_allowed, "use GET");
    res.set(http::field::allow, "GET, HEAD");
    co_return res;
  }
  if (path == "/metrics") {
    co_return respond(req, http::status::ok, sources.metrics ? sources.metrics() : "",
                      "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/healthz") {
    bool up = sources.healthy && sources.healthy();
    auto problem = up && sources.problem ? sources.problem() : std::string();
    if (!problem.empty()) {
      boost::json::object o{{"status", "critical"}, {"reason", problem}};
      co_return respond(req, http::status::service_unavailable, boost::json::serialize(o) + "\n",
                        "application/json");
    }
    co_return respond(req, up ? http::status::ok : http::status::service_unavailable,
                      up ? "{\"status\":\"ok\"}\n" : "{\"status\":\"stopping\"}\n",
                      "application/json");
  }
  // /status
  std::optional<boost::json::object> status;
  std::string failure;
  try {
    if (sources.status) {
      auto op = sources.status();
      status = co_await std::move(op);
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!status) {
    co_return json_error(req, http::status::service_unavailable,
                         failure.empty() ? "status unavailable" : "status unavailable: " + failure);
  }
  co_return respond(req, http::status::ok, boost::json::serialize(*status) + "\n",
                    "application/json");
}

}  // namespace pigeon::engine
