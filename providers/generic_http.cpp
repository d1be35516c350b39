// generic-http: a carrier described entirely by configuration.
//
// What it sends (one request per message):
//   {method} {url}
//   Content-Type: application/json | application/x-www-form-urlencoded   (unless headers.* set it)
//   Authorization: Basic base64(username:password) | Bearer {token}     (auth: basic | bearer)
//   X-Timestamp: {unix seconds}  X-Signature: hex(HMAC-SHA256(hmac_secret, ts "." body))
//                                      (auth: hmac; names from hmac_timestamp_header/hmac_header)
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
// Batch mode (batch: N > 1, format json): up to N messages in one request, the body a JSON
// array of the per-message bodies ([{...},{...}]). The reply, on 2xx, must hold one result per
// message, in order: a JSON array at batch_results_pointer (default: the whole reply), each item
// with the carrier id at batch_id_pointer (default /id). An item without an id is that message's
// rejection (its "code"/"error_code" and "message"/"error"). A non-2xx reply gives every
// message the single-message verdict; a 2xx that cannot be split (not an array, wrong length)
// gives every message rejected{"no-id"}, for the reason below.
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
#include <charconv>
#include <utility>

#include "providers/reply.hpp"
#include "providers/settings.hpp"
#include "providers/webhook_util.hpp"

namespace pigeon::providers::generic_http {

namespace {

using field = template_part::field;

const std::vector<std::string>& declared_keys() {
  // clang-format off
  static const std::vector<std::string> keys = {
      "url", "method", "format", "body", "from", "headers.*", "id_pointer",
      "auth", "username", "password", "token", "timeout",
      "hmac_secret", "hmac_header", "hmac_timestamp_header",
      "batch", "batch_results_pointer", "batch_id_pointer"};
  // clang-format on
  static const std::vector<std::string> all = [] {
    auto out = keys;
    out.insert(out.end(), webhook_keys().begin(), webhook_keys().end());
    return out;
  }();
  return all;
}

constexpr std::string_view default_json_body =
    R"({"to":"{{to}}","from":"{{from}}","text":"{{text}}","ref":"{{id}}"})";
constexpr std::string_view default_form_body = "to={{to}}&from={{from}}&text={{text}}&ref={{id}}";

// Appends value to out, escaped for the body's format.
void append_escaped(std::string& out, std::string_view value, body_format format) {
  if (format == body_format::form) {
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;
    out += boost::urls::encode(value, boost::urls::unreserved_chars, opts);
    return;
  }
  // Printable ASCII other than '"' and '\\' is the same in a JSON string literal: appended as is,
  // without building a literal (the common case: numbers, names, plain text).
  const bool plain = std::all_of(value.begin(), value.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out += value;
    return;
  }
  // Boost.JSON writes a complete string literal; the template supplies the quotes.
  const std::string quoted =
      boost::json::serialize(boost::json::string_view(value.data(), value.size()));
  out.append(quoted, 1, quoted.size() - 2);
}

std::string render(const std::vector<template_part>& parts, body_format format,
                   const std::string& from, const engine::outbound_message& m) {
  std::string out;
  std::size_t size = 0;  // one allocation for the usual body: no escapes grow it
  for (const auto& part : parts) size += part.literal.size();
  out.reserve(size + m.to.size() + from.size() + m.text.size() + 24);
  for (const auto& part : parts) {
    switch (part.what) {
      case field::literal:
        out += part.literal;
        break;
      case field::to:
        append_escaped(out, m.to, format);
        break;
      case field::from:
        append_escaped(out, from, format);
        break;
      case field::text:
        append_escaped(out, m.text, format);
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
  auto auth = r.one_of("auth", {"none", "basic", "bearer", "hmac"});
  auto only_with = [&](std::string_view key, std::string_view mode) {
    if (auth != mode && r.find(key))
      r.fail_at(key, "key '" + std::string(key) + "' of " + r.label() +
                         " is only used with auth: " + std::string(mode));
  };
  only_with("username", "basic");
  only_with("password", "basic");
  only_with("token", "bearer");
  only_with("hmac_secret", "hmac");
  only_with("hmac_header", "hmac");
  only_with("hmac_timestamp_header", "hmac");
  if (auth == "hmac") {
    hmac_auth h;
    h.secret = r.required("hmac_secret");
    h.signature_header = r.get("hmac_header", h.signature_header);
    h.timestamp_header = r.get("hmac_timestamp_header", h.timestamp_header);
    for (const char* key : {"hmac_header", "hmac_timestamp_header"})
      if (const auto* v = r.find(key); v && !valid_header_name(v->value))
        r.fail(v->where, "key '" + std::string(key) + "' of " + r.label() + " is '" + v->value +
                             "', not a valid header name");
    s.hmac = std::move(h);
  }
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

  // Batch mode.
  if (const auto* batch = r.find("batch")) {
    long long n = 0;
    auto [end, ec] =
        std::from_chars(batch->value.data(), batch->value.data() + batch->value.size(), n);
    if (ec != std::errc{} || end != batch->value.data() + batch->value.size() || n < 1 || n > 1000)
      r.fail(batch->where, "key 'batch' of " + r.label() + " is '" + batch->value +
                               "'; expected a number of messages per request from 1 to 1000");
    else
      s.batch = static_cast<std::size_t>(n);
    if (s.batch > 1 && s.format != body_format::json)
      r.fail(batch->where, "key 'batch' of " + r.label() + " needs format: json");
  }
  s.batch_results_pointer = r.get("batch_results_pointer");
  s.batch_id_pointer = r.get("batch_id_pointer", s.batch_id_pointer);
  for (const char* key : {"batch_results_pointer", "batch_id_pointer"})
    if (const auto* v = r.find(key); v && !v->value.empty() && v->value.front() != '/')
      r.fail(v->where, "key '" + std::string(key) + "' of " + r.label() + " is '" + v->value +
                           "'; a JSON pointer starts with '/'");

  read_webhook_settings(r, s.webhook);
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
  sign(request, message.now);
  return request;
}

void codec::sign(engine::http_request& request, std::optional<engine::time_point> now) const {
  if (!settings_.hmac) return;
  // Codecs read no clock: the timestamp is the dispatcher's `now` (0 when it gave none).
  const auto seconds =
      now ? std::chrono::duration_cast<std::chrono::seconds>(now->time_since_epoch()).count() : 0;
  const auto timestamp = std::to_string(seconds);
  request.headers.emplace_back(settings_.hmac->timestamp_header, timestamp);
  request.headers.emplace_back(
      settings_.hmac->signature_header,
      hex_encode(hmac_sha256(settings_.hmac->secret, timestamp + "." + request.body)));
}

engine::http_request codec::build_submit_batch(
    std::span<const engine::outbound_message> messages) const {
  engine::http_request request;
  request.method = settings_.method;
  request.url = settings_.url;
  request.headers = settings_.headers;
  request.body = "[";
  for (const auto& m : messages) {
    if (request.body.size() > 1) request.body += ',';
    request.body += render(settings_.body, settings_.format, settings_.from, m);
  }
  request.body += ']';
  request.timeout = settings_.timeout;
  sign(request, messages.empty() ? std::nullopt : messages.front().now);
  return request;
}

std::vector<engine::submit_verdict> codec::parse_submit_batch_reply(
    const engine::http_response& response, std::size_t count) const {
  const int status = response.status;
  if (status < 200 || status > 299)
    return std::vector<engine::submit_verdict>(count, parse_submit_reply(response));
  boost::json::error_code ec;
  auto doc = boost::json::parse(response.body, ec);
  const boost::json::value* results = ec ? nullptr
                                      : settings_.batch_results_pointer.empty()
                                          ? &doc
                                          : doc.find_pointer(settings_.batch_results_pointer, ec);
  if (!results || !results->is_array() || results->get_array().size() != count) {
    // The carrier answered 2xx but we cannot tell which message got which id: as for a 2xx
    // without an id, nothing is resent and the misconfiguration is loud.
    return std::vector<engine::submit_verdict>(
        count, engine::rejected{"no-id", "carrier replied " + std::to_string(status) +
                                             " without one result per message at '" +
                                             settings_.batch_results_pointer +
                                             "': " + short_reason(response.body)});
  }
  std::vector<engine::submit_verdict> out;
  out.reserve(count);
  for (const auto& item : results->get_array()) {
    boost::json::error_code item_ec;
    const auto* id = item.find_pointer(settings_.batch_id_pointer, item_ec);
    if (id && id->is_string() && !id->get_string().empty()) {
      out.push_back(engine::accepted{std::string(id->get_string())});
    } else if (id && (id->is_int64() || id->is_uint64())) {
      out.push_back(engine::accepted{id->is_int64() ? std::to_string(id->get_int64())
                                                    : std::to_string(id->get_uint64())});
    } else {
      // An item without an id is that message's refusal: its "code" and "message"/"error".
      std::string code = "no-id", text;
      if (const auto* obj = item.if_object()) {
        for (const char* key : {"code", "error_code"})
          if (const auto* v = obj->if_contains(key)) {
            if (v->is_string()) code = std::string(v->get_string());
            if (v->is_int64()) code = std::to_string(v->get_int64());
          }
        for (const char* key : {"message", "error"})
          if (const auto* v = obj->if_contains(key); v && v->is_string())
            text = std::string(v->get_string());
      }
      if (text.empty()) text = short_reason(boost::json::serialize(item));
      out.push_back(engine::rejected{std::move(code), short_reason(text)});
    }
  }
  return out;
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
