#include "engine/ops/admin_handler.hpp"

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>

namespace pigeon::engine::ops {

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

std::string lower(std::string_view v) {
  std::string out(v);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "host:port" or "[v6]:port" (not a bare host or "[v6]").
bool has_port(std::string_view host) {
  return !host.empty() &&
         host.find(':', host.front() == '[' ? host.find(']') : 0) != std::string_view::npos;
}

// "%E5%8F%8C11" -> the bytes; nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2])))
      return std::nullopt;
    out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

}  // namespace

bool bearer_matches(std::string_view header, std::string_view token) {
  // The scheme is case-insensitive (RFC 9110 11.1): compare it folded, the token exactly.
  std::string folded(header);
  for (std::size_t i = 0; i < folded.size() && i < 6; ++i)
    folded[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(folded[i])));
  header = folded;
  std::string expected = "bearer " + std::string(token);
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

std::vector<std::string> admin_host_names(const std::string& listen_host, std::uint16_t port,
                                          const std::vector<std::string>& configured) {
  const std::string p = ":" + std::to_string(port);
  std::vector<std::string> out{"127.0.0.1" + p, "localhost" + p, "[::1]" + p};
  std::string own = lower(listen_host);
  if (own.find(':') != std::string::npos && own.front() != '[') own = "[" + own + "]";
  if (!own.empty()) out.push_back(own + p);
  for (const auto& name : configured) {
    auto n = lower(name);
    const bool with_port = has_port(n);
    out.push_back(with_port ? n : n + p);
    if (!with_port && port == 80) out.push_back(n);
  }
  if (port == 80)
    for (const char* h : {"127.0.0.1", "localhost", "[::1]"}) out.emplace_back(h);
  return out;
}

std::optional<admin_response> refuse_cross_site(const admin_request& req,
                                                const std::vector<std::string>& hosts) {
  auto known = [&](const std::string& host) {
    return std::find(hosts.begin(), hosts.end(), host) != hosts.end();
  };
  if (auto it = req.find(http::field::host); it != req.end()) {
    auto host = lower(std::string_view(it->value().data(), it->value().size()));
    if (!known(host))
      return json_error(req, http::status::misdirected_request,
                        "Host '" + host +
                            "' is not this admin listener's address (add it to admin_hosts "
                            "if it is a name of yours)");
  }
  if (auto it = req.find(http::field::origin); it != req.end()) {
    auto origin = lower(std::string_view(it->value().data(), it->value().size()));
    std::string host;
    if (origin.starts_with("http://")) host = origin.substr(7);
    if (origin.starts_with("https://")) host = origin.substr(8);
    // An origin without a port is on its scheme's default one.
    if (!host.empty() && !has_port(host)) host += origin.starts_with("https://") ? ":443" : ":80";
    if (host.empty() || !known(host))
      return json_error(req, http::status::forbidden,
                        "cross-origin request from '" + origin + "' refused");
  }
  const auto m = req.method();
  if (m != http::verb::get && m != http::verb::head && m != http::verb::options) {
    auto type = lower(std::string_view(req[http::field::content_type].data(),
                                       req[http::field::content_type].size()));
    auto media = type.substr(0, type.find(';'));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    if (media != "application/json")
      return json_error(req, http::status::unsupported_media_type,
                        "send Content-Type: application/json (got '" + type + "')");
  }
  return std::nullopt;
}

boost::asio::awaitable<std::optional<admin_response>> handle_admin(admin_request req,
                                                                   const admin_sources& sources) {
  std::string_view target(req.target().data(), req.target().size());
  auto path = target.substr(0, target.find('?'));
  const bool page = path == "/" || path.starts_with("/reports/");
  if (path != "/metrics" && path != "/healthz" && path != "/status" && !page)
    co_return std::nullopt;
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
  if (page) {
    std::optional<std::string> campaign;
    if (path != "/") {
      campaign = percent_decode(path.substr(9));
      if (!campaign || campaign->empty())
        co_return json_error(req, http::status::bad_request,
                             "expected /reports/{campaign} with the name percent-encoded");
    }
    std::optional<std::pair<int, std::string>> answer;
    std::string failure;
    try {
      if (sources.pages) {
        auto op = sources.pages(campaign);
        answer = co_await std::move(op);
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!answer)
      co_return json_error(
          req, http::status::service_unavailable,
          failure.empty() ? "reports unavailable" : "reports unavailable: " + failure);
    co_return respond(req, static_cast<http::status>(answer->first), std::move(answer->second),
                      "text/html; charset=utf-8");
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

}  // namespace pigeon::engine::ops
