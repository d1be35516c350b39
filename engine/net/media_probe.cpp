#include "engine/net/media_probe.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace pigeon::engine::net {
namespace {

struct response {
  long status = 0;
  long long length = -1;     // Content-Length, or the total of Content-Range
  long long body_bytes = 0;  // bytes actually received
  std::string content_type;
  std::string error;
};

std::string lower_trim(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto semi = s.find(';');
  if (semi != std::string::npos) s.resize(semi);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  return s;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<response*>(user);
  std::string line(data, size * n);
  std::string key = line.substr(0, line.find(':'));
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (line.rfind("HTTP/", 0) == 0) r->length = -1;  // a new response (after a redirect)
  if (key == "content-range") {
    auto slash = line.rfind('/');
    if (slash != std::string::npos) {
      try {
        r->length = std::stoll(line.substr(slash + 1));
      } catch (const std::exception&) {
      }
    }
  }
  return size * n;
}

std::size_t on_body(char*, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<response*>(user);
  r->body_bytes += static_cast<long long>(size * n);
  // A server that ignores the range sends the whole body: count it, but not forever.
  return r->body_bytes > 64LL * 1024 * 1024 ? 0 : size * n;
}

response request(const std::string& url, bool head, std::chrono::milliseconds timeout) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  response r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) {
    r.error = "cannot create a libcurl handle";
    return r;
  }
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "pigeon-media-probe/1");
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  if (head)
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else
    curl_easy_setopt(c, CURLOPT_RANGE, "0-0");
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r.status > 0)) {
    r.error = curl_easy_strerror(rc);
    return r;
  }
  char* type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
    r.content_type = lower_trim(type);
  if (r.length < 0) {
    curl_off_t len = -1;
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK && len >= 0 &&
        (head || r.status == 200))
      r.length = static_cast<long long>(len);
  }
  if (!head && r.status == 200 && r.length < 0 && rc == CURLE_OK) r.length = r.body_bytes;
  return r;
}

}  // namespace

campaign::media_info probe_media_url(const std::string& url, std::chrono::milliseconds timeout) {
  campaign::media_info info;
  response r = request(url, true, timeout);
  bool head_ok = r.error.empty() && r.status >= 200 && r.status < 300;
  if (!head_ok || r.length < 0) {
    response g = request(url, false, timeout);
    if (!g.error.empty()) {
      info.error = "unreachable: " + g.error;
      return info;
    }
    if (g.status < 200 || g.status >= 300) {
      info.error = "HTTP " + std::to_string(g.status);
      return info;
    }
    if (g.content_type.empty()) g.content_type = r.content_type;
    r = g;
  }
  info.ok = true;
  info.bytes = r.length;
  info.content_type =
      r.content_type.empty() ? dispatch::media_type_for_extension(url) : r.content_type;
  return info;
}

campaign::media_probe make_url_media_probe(std::chrono::milliseconds timeout) {
  return [timeout](const std::string& url) { return probe_media_url(url, timeout); };
}

}  // namespace pigeon::engine::net
