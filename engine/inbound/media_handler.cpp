#include "engine/inbound/media_handler.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/http/field.hpp>

#include "engine/dispatch/media_files.hpp"

namespace pigeon::engine::inbound {

namespace http = boost::beast::http;

namespace {
constexpr std::string_view prefix = "/media/";
}  // namespace

media_handler::media_handler(std::string media_dir) : media_dir_(std::move(media_dir)) {}

bool media_handler::handles(std::string_view target) {
  target = target.substr(0, target.find('?'));
  return target == "/media" || target.starts_with(prefix);
}

net::http_response_t media_handler::respond(const net::http_request_t& request) const {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto res = net::make_response(request, 405, R"({"error":"use GET or HEAD"})");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  auto path = target.starts_with(prefix) ? target.substr(prefix.size()) : std::string_view();
  auto media = dispatch::read_served_media(media_dir_, path);
  if (media.status != 200) {
    spdlog::debug("media {}: not served: {}", target, media.reason);
    return net::make_response(request, 404, R"({"error":"no such media"})");
  }
  auto res = net::make_response(request, 200, std::move(media.body), media.content_type);
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  return res;
}

boost::asio::awaitable<net::http_response_t> media_handler::operator()(
    net::http_request_t request) const {
  co_return respond(request);
}

}  // namespace pigeon::engine::inbound
