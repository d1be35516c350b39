#include "engine/net/curl_easy.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace pigeon::engine::net::curl {

using engine::http_errc;

void global_init_once() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) throw std::runtime_error("curl_global_init failed");
}

boost::system::error_code map_curl_error(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return http_errc::connect_failed;
    case CURLE_OPERATION_TIMEDOUT:
      return http_errc::timed_out;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return http_errc::connection_lost;
    case CURLE_WEIRD_SERVER_REPLY:
      return http_errc::bad_response;
    default:
      return http_errc::other;
  }
}

bool no_proxy_in_environment() {
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* value = std::getenv(name);
    if (value && *value) return false;
  }
  return true;
}

header_block::header_block(engine::header_list from) : source(std::move(from)) {
  std::string line;
  for (const auto& [name, value] : source) {
    line.assign(name).append(": ").append(value);
    lines = curl_slist_append(lines, line.c_str());
  }
  // No "Expect: 100-continue" round trip: carriers answer small JSON posts directly.
  lines = curl_slist_append(lines, "Expect:");
}

header_block::~header_block() {
  if (lines) curl_slist_free_all(lines);
}

void destroy(easy_handle& h) {
  if (h.easy) curl_easy_cleanup(h.easy);
  if (h.parsed_url) curl_url_cleanup(h.parsed_url);
  h.easy = nullptr;
  h.parsed_url = nullptr;
}

void set_url(easy_handle& h, const std::string& url) {
  if (!h.parsed_url) h.parsed_url = curl_url();
  if (h.parsed_url && curl_url_set(h.parsed_url, CURLUPART_URL, url.c_str(),
                                   CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    curl_easy_setopt(h.easy, CURLOPT_URL, nullptr);  // the transfer takes the text from the CURLU
    curl_easy_setopt(h.easy, CURLOPT_CURLU, h.parsed_url);
  } else {
    curl_easy_setopt(h.easy, CURLOPT_CURLU, nullptr);
    curl_easy_setopt(h.easy, CURLOPT_URL, url.c_str());
  }
  h.url = url;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

size_t on_body(char* data, size_t size, size_t count, void* response) {
  auto& body = static_cast<engine::http_response*>(response)->body;
  // Returning less than given aborts the transfer (CURLE_WRITE_ERROR): no peer can make the
  // process hold an endless body.
  if (body.size() + size * count > max_response_body) return 0;
  body.append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* response) {
  auto& r = *static_cast<engine::http_response*>(response);
  const std::string_view line = trim(std::string_view(data, size * count));
  if (line.starts_with("HTTP/")) {
    r.headers.clear();  // a new header block (100 Continue, or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    // Responses carry a handful of headers: one allocation instead of growing 1, 2, 4, 8.
    if (r.headers.empty()) r.headers.reserve(8);
    r.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                           std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

}  // namespace pigeon::engine::net::curl
