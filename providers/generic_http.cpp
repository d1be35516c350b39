// generic-http: a carrier described entirely by configuration.
//
// What it sends (one request per message):
//   {method} {url}
//   Content-Type: application/json | application/x-www-form-urlencoded   (unless headers.* set it)
//   Authorization: Basic base64(username:password) | Bearer {token}     (auth: basic | bearer)
//   {headers.*}                                                          (in key order)
//
//   {body}: the `body` template with {{to}} (E.164), {{from}}, {{text}} (the rendered message)
//   and {{id}} (pigeon's message id) filled in, each escaped for the body's format:
//     format: json   JSON string escaping (the placeholder sits inside a JSON string), default
//                    {"to":"{{to}}","from":"{{from}}","text":"{{text}}","ref":"{{id}}"}
//     format: form   percent-encoding (space as '+'), default
//                    to={{to}}&from={{from}}&text={{text}}&ref={{id}}
//   The template is parsed once when the codec is made; any other placeholder is a config error.
//   MMS subject and media have no placeholders: a generic gateway gets the text only.
//
// How replies map:
//   2xx, JSON with a string or integer at id_pointer (default /id)  -> accepted{id}
//   2xx without it (no JSON, no such member, empty string)           -> rejected{"no-id"}
//   429, 408, 425, 5xx                                                -> retry_later{Retry-After}
//   any other status (4xx, 3xx, 1xx)                                  -> rejected{status, body}
//
// Why a 2xx without an id is `rejected` and not `accepted` with an empty id: the carrier most
// likely took the message, so `retry_later` would send it twice; but without its id we cannot
// match delivery reports, and the codec contract forbids calling a reply we cannot read
// `accepted`. `rejected` never resends through this carrier and makes the misconfiguration (a
// wrong id_pointer, usually) loud in the message log instead of leaving messages `submitted`
// forever.
#include "providers/generic_http.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/scheme.hpp>
#include <cctype>
#include <utility>

#include "providers/reply.hpp"
#include "providers/settings.hpp"

namespace pigeon::providers::generic_http {

namespace {

using field = template_part::field;

const std::vector<std::string>& declared_keys() {
  // clang-format off
  static const std::vector<std::string> keys = {
      "url", "method", "format", "body", "from", "headers.*", "id_pointer",
      "auth", "username", "password", "token", "timeout"};
  // clang-format on
  return keys;
}

constexpr std::string_view default_json_body =
    R"({"to":"{{to}}","from":"{{from}}","text":"{{text}}","ref":"{{id}}"})";
constexpr std::string_view default_form_body = "to={{to}}&from={{from}}&text={{text}}&ref={{id}}";

std::string escape(std::string_view value, body_format format) {
  if (format == body_format::form) {
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;
    return boost::urls::encode(value, boost::urls::unreserved_chars, opts);
  }
  // Boost.JSON writes a complete string literal; the template supplies the quotes.
  std::string quoted = boost::json::serialize(boost::json::string_view(value.data(), value.size()));
  return quoted.substr(1, quoted.size() - 2);
}

std::string render(const std::vector<template_part>& parts, body_format format,
                   const std::string& from, const engine::outbound_message& m) {
  std::string out;
  for (const auto& part : parts) {
    switch (part.what) {
      case field::literal:
        out += part.literal;
        break;
      case field::to:
        out += escape(m.to, format);
        break;
      case field::from:
        out += escape(from, format);
        break;
      case field::text:
        out += escape(m.text, format);
        break;
      case field::id:
        out += std::to_string(m.id);
        break;
    }
  }
  return out;
}

void parse_template_into(const std::string& text, const config::source_location& where,
                         std::vector<template_part>& parts,
                         std::vector<config::config_issue>& issues) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto open = text.find("{{", pos);
    if (open == std::string::npos) open = text.size();
    if (open > pos) parts.push_back({field::literal, text.substr(pos, open - pos)});
    if (open == text.size()) break;
    auto close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      issues.push_back({where, "unclosed '{{' in body template at offset " + std::to_string(open)});
      return;
    }
    std::string_view name(text.data() + open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name == "to")
      parts.push_back({field::to, {}});
    else if (name == "from")
      parts.push_back({field::from, {}});
    else if (name == "text")
      parts.push_back({field::text, {}});
    else if (name == "id")
      parts.push_back({field::id, {}});
    else
      issues.push_back({where, "unknown placeholder '" + text.substr(open, close + 2 - open) +
                                   "' in body template; expected {{to}}, {{from}}, {{text}} "
                                   "or {{id}}"});
    pos = close + 2;
  }
}

bool valid_header_name(std::string_view name) {
  constexpr std::string_view tchar = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && tchar.find(c) == std::string_view::npos)
      return false;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void check_url(settings_reader& r, const std::string& url) {
  if (url.empty()) return;  // already reported as missing
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    r.fail_at("url",
              "key 'url' of " + r.label() + " is not a valid URL: " + parsed.error().message());
  } else if (parsed->scheme_id() != boost::urls::scheme::http &&
             parsed->scheme_id() != boost::urls::scheme::https) {
    r.fail_at("url", "key 'url' of " + r.label() + " must be an http or https URL, not '" +
                         std::string(parsed->scheme()) + "'");
  } else if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    r.fail_at("url", "key 'url' of " + r.label() + " has no host");
  }
}

// Returns the auth mode.
std::string read_auth(settings_reader& r, settings& s) {
  auto auth = r.one_of("auth", {"none", "basic", "bearer"});
  auto only_with = [&](std::string_view key, std::string_view mode) {
    if (auth != mode && r.find(key))
      r.fail_at(key, "key '" + std::string(key) + "' of " + r.label() +
                         " is only used with auth: " + std::string(mode));
  };
  only_with("username", "basic");
  only_with("password", "basic");
  only_with("token", "bearer");
  if (auth == "basic") {
    auto user = r.required("username");
    if (!r.find("password")) r.fail(r.provider().where, r.label() + " needs key 'password'");
    s.headers.emplace_back("Authorization", basic_authorization(user, r.get("password")));
  } else if (auth == "bearer") {
    s.headers.emplace_back("Authorization", "Bearer " + r.required("token"));
  }
  return auth;
}

}  // namespace

std::vector<template_part> parse_body_template(const std::string& text,
                                               const config::source_location& where) {
  std::vector<template_part> parts;
  std::vector<config::config_issue> issues;
  parse_template_into(text, where, parts, issues);
  if (!issues.empty()) throw config::config_error(std::move(issues));
  return parts;
}

settings parse_settings(const config::provider_config& cfg) {
  settings_reader r(cfg, "generic-http", declared_keys());
  settings s;
  s.url = r.required("url");
  check_url(r, s.url);
  s.method = r.one_of("method", {"POST", "PUT"});
  s.format = r.one_of("format", {"json", "form"}) == "form" ? body_format::form : body_format::json;
  s.from = r.get("from");
  s.timeout = r.duration("timeout", s.timeout);

  s.id_pointer = r.get("id_pointer", s.id_pointer);
  if (!s.id_pointer.empty() && s.id_pointer.front() != '/')
    r.fail_at("id_pointer", "key 'id_pointer' of " + r.label() + " is '" + s.id_pointer +
                                "'; a JSON pointer starts with '/' (e.g. /data/id)");

  // The body: parsed once; a JSON body is also checked to stay JSON once filled in, which
  // catches a string placeholder left outside its quotes.
  const auto* body = r.find("body");
  std::string body_text(body                            ? std::string_view(body->value)
                        : s.format == body_format::json ? default_json_body
                                                        : default_form_body);
  std::vector<config::config_issue> issues;
  parse_template_into(body_text, body ? body->where : cfg.where, s.body, issues);
  for (auto& issue : issues) r.fail(issue.where, issue.message + " (" + r.label() + ")");
  if (issues.empty() && s.format == body_format::json) {
    engine::outbound_message sample;
    sample.id = 1;
    sample.to = "+15550100";
    sample.text = "sample \"text\"";
    boost::json::error_code ec;
    boost::json::parse(render(s.body, s.format, "sender", sample), ec);
    if (ec)
      r.fail_at("body", "body of " + r.label() + " is not valid JSON once filled in (" +
                            ec.message() + "); {{to}}, {{from}} and {{text}} belong inside quotes");
  }

  // Content-Type first, then Authorization, then the operator's headers.
  auto extra = r.with_prefix("headers.");
  bool custom_type = false;
  for (const auto& [name, value] : extra)
    custom_type = custom_type || iequals(name, "Content-Type");
  if (!custom_type)
    s.headers.emplace_back("Content-Type", s.format == body_format::json
                                               ? "application/json"
                                               : "application/x-www-form-urlencoded");
  const auto auth = read_auth(r, s);
  for (const auto& [name, value] : extra) {
    if (!valid_header_name(name))
      r.fail(value.where, "header name '" + name + "' of " + r.label() + " is not a valid token");
    else if (value.value.find_first_of("\r\n") != std::string::npos)
      r.fail(value.where, "header '" + name + "' of " + r.label() + " contains a line break");
    else if (iequals(name, "Authorization") && auth != "none")
      r.fail(value.where, "header 'Authorization' of " + r.label() + " conflicts with key 'auth'");
    s.headers.emplace_back(name, value.value);
  }

  r.throw_if_any();
  return s;
}

codec::codec(settings s) : settings_(std::move(s)) {}

engine::http_request codec::build_submit(const engine::outbound_message& message) const {
  engine::http_request request;
  request.method = settings_.method;
  request.url = settings_.url;
  request.headers = settings_.headers;
  request.body = render(settings_.body, settings_.format, settings_.from, message);
  request.timeout = settings_.timeout;
  return request;
}

engine::submit_verdict codec::parse_submit_reply(const engine::http_response& response) const {
  const int status = response.status;
  if (status >= 200 && status <= 299) {
    boost::json::error_code ec;
    auto doc = boost::json::parse(response.body, ec);
    const boost::json::value* id = ec ? nullptr : doc.find_pointer(settings_.id_pointer, ec);
    if (id && id->is_string() && !id->get_string().empty())
      return engine::accepted{std::string(id->get_string())};
    if (id && id->is_int64()) return engine::accepted{std::to_string(id->get_int64())};
    if (id && id->is_uint64()) return engine::accepted{std::to_string(id->get_uint64())};
    return engine::rejected{"no-id", "carrier replied " + std::to_string(status) +
                                         " without an id at '" + settings_.id_pointer +
                                         "': " + short_reason(response.body)};
  }
  std::string text = short_reason(response.body);
  if (text.empty()) text = "HTTP " + std::to_string(status);
  if (is_transient_status(status))
    return engine::retry_later{retry_after(response), std::to_string(status), std::move(text)};
  return engine::rejected{std::to_string(status), std::move(text)};
}

std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg) {
  return std::make_unique<codec>(parse_settings(cfg));
}

}  // namespace pigeon::providers::generic_http
