#include "engine/net/simulator_media.hpp"

#include <openssl/evp.h>

#include <cctype>

namespace pigeon::engine::net {

namespace {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return hex;
}

}  // namespace

std::string form_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> submission_media_urls(const boost::json::object& fields,
                                               std::string_view form_body) {
  std::vector<std::string> out;
  if (const auto* media = fields.if_contains("media"); media && media->is_array()) {
    for (const auto& v : media->get_array())
      if (v.is_string()) out.emplace_back(v.get_string());
    return out;
  }
  while (!form_body.empty()) {
    const auto amp = form_body.find('&');
    const auto pair = form_body.substr(0, amp);
    form_body = amp == std::string_view::npos ? std::string_view{} : form_body.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && form_decode(pair.substr(0, eq)) == "MediaUrl")
      out.push_back(form_decode(pair.substr(eq + 1)));
  }
  return out;
}

bool loopback_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i]) return false;
  auto authority = url.substr(scheme.size());
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return false;
  std::string host(authority.starts_with("[") ? authority.substr(0, authority.find(']') + 1)
                                              : authority.substr(0, authority.rfind(':')));
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host == "localhost" || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.')
      ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return dots == 3;
}

simulator_media fetched_media(std::string url, const boost::system::error_code& ec,
                              const engine::http_response& response) {
  simulator_media m;
  m.url = std::move(url);
  if (ec) {
    m.error = ec.message();
    return m;
  }
  m.status = response.status;
  m.bytes = static_cast<long long>(response.body.size());
  m.sha256 = sha256_hex(response.body);
  m.content_type = std::string(response.header("Content-Type"));
  return m;
}

boost::json::object to_json(const simulator_media& m) {
  return {{"url", m.url},
          {"status", m.status},
          {"bytes", m.bytes},
          {"sha256", m.sha256},
          {"content_type", m.content_type},
          {"error", m.error}};
}

}  // namespace pigeon::engine::net
