// twilio: Twilio Programmable Messaging, REST API 2010-04-01
// (Twilio's OpenAPI document, tests/fixtures/twilio/twilio_api_v2010.yaml, CreateMessage).
//
// What it sends (one request per message):
//   POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json
//   Authorization: Basic base64(account_sid:auth_token)
//   Content-Type: application/x-www-form-urlencoded
//   To={to}&From={from}|MessagingServiceSid={sid}&Body={text}[&MediaUrl={url}]...
//     [&StatusCallback={status_callback_url}?id={pigeon message id}][&ValidityPeriod={s}]
//   Both From and MessagingServiceSid are sent when both are configured (Twilio then uses that
//   sender of the service's pool). MediaUrl is repeated, once per media URL (at most 10: a
//   message with more is refused before any request, see refuse()). MMS subjects have no
//   field in this API and are not sent. ValidityPeriod = expires - now in whole seconds,
//   clamped to Twilio's 1..36000; left out when the message has no expiry or no `now`.
//
// How replies map (Twilio error JSON:
// {"code":21211,"message":"...","more_info":"...","status":400}):
//   2xx with a "sid"                                  -> accepted{sid}
//   2xx without one (HTML from a proxy, garbage)      -> retry_later{"bad-reply"}, carrier fault
//   code 21610 (recipient replied STOP)               -> rejected, recipient_opted_out
//   codes 21211 21408 21606 21612 21614 21617 and any other 400/4xx not listed below
//                                                     -> rejected, recipient fault
//   code 20429 or HTTP 429                            -> retry_later{Retry-After}, carrier fault
//   401, 403, code 20003 (authentication), 404 (account not found), 3xx, account/sender
//   misconfiguration (21603 21659 21660 21701 21703 21704 21705)
//                                                     -> retry_later, carrier fault
//   code 21611 (From's queue full)                     -> retry_later, carrier fault
//   408, 425, 5xx, a reply that is not Twilio JSON    -> retry_later, carrier fault
// Why authentication failures are retry_later with carrier fault and not rejected: the message
// is fine, the account (or its token) is not. Rejecting would fail every message of the
// campaign one by one; a carrier fault instead opens this provider's circuit breaker, so the
// sender's route fails over to the next provider and the messages wait for the fix.
//
// Webhooks (Twilio posts application/x-www-form-urlencoded; `id` is our query parameter):
//   X-Twilio-Signature is checked first (validate_signature); missing or wrong -> 403, security.
//   status:  MessageSid, MessageStatus, ErrorCode, query id -> delivery_event
//            queued|accepted|scheduled|sending|sent -> submitted; delivered|read -> delivered;
//            undelivered -> undelivered; failed|canceled -> failed; others -> submitted, kept.
//   inbound: From, To, Body, MessageSid -> inbound_event; answered with an empty TwiML
//            <Response/> (text/xml) so Twilio sends nothing back by itself.
#include "providers/twilio.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include "providers/reply.hpp"
#include "providers/settings.hpp"

namespace pigeon::providers::twilio {

namespace {

bool has_sid_shape(std::string_view sid, std::string_view prefix) {
  if (sid.size() != 34 || !sid.starts_with(prefix)) return false;
  return std::all_of(sid.begin() + 2, sid.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// A member of a JSON object as text: strings as they are, integers in decimal; else empty.
std::string member_text(const boost::json::value& doc, std::string_view key) {
  const auto* obj = doc.if_object();
  if (!obj) return {};
  const auto* v = obj->if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return {};
}

// Codes that say this account or its sender is misconfigured, whatever the message: the whole
// provider is unusable until someone fixes it, so they are carrier faults (failover), not
// rejections that would burn every message of a campaign one by one.
bool is_account_code(std::string_view code) {
  // 21603 From required, 21659 From not a Twilio number, 21660 From/account mismatch,
  // 21701/21703/21704/21705 messaging service invalid or without senders.
  for (std::string_view c : {"21603", "21659", "21660", "21701", "21703", "21704", "21705"})
    if (code == c) return true;
  return false;
}

// The status callback URL with our message id as a query parameter.
std::string callback_with_id(const std::string& url, std::int64_t id) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "id=" + std::to_string(id);
}

// Node's legacy querystring.escape: unreserved = A-Z a-z 0-9 - _ . ! ~ * ' ( ).
std::string node_qs_escape(std::string_view value) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) ||
        std::string_view("-_.!~*'()").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

// Splits "scheme://host/path?query#fragment" into head (up to '?'), query, and tail ('#...').
struct url_parts {
  std::string_view head, query, tail;
  bool has_query = false;
};
url_parts split_url(std::string_view url) {
  url_parts p;
  auto hash = url.find('#');
  p.tail = hash == std::string_view::npos ? std::string_view{} : url.substr(hash);
  url = url.substr(0, hash);
  auto q = url.find('?');
  p.head = url.substr(0, q);
  if (q != std::string_view::npos) {
    p.has_query = true;
    p.query = url.substr(q + 1);
  }
  return p;
}

// The query as Twilio's Node library re-encodes it (querystring.parse then stringify).
std::optional<std::string> legacy_query_url(std::string_view url) {
  auto p = split_url(url);
  if (!p.has_query) return std::nullopt;
  auto params = parse_form(p.query);
  if (!params) return std::nullopt;
  std::string out(p.head);
  out += '?';
  bool first = true;
  for (const auto& [k, v] : *params) {
    if (!first) out += '&';
    first = false;
    out += node_qs_escape(k) + "=" + node_qs_escape(v);
  }
  return out + std::string(p.tail);
}

// The query as a WHATWG URL parser serialises it (special schemes percent-encode ' " < > space
// and bytes outside printable ASCII).
std::optional<std::string> whatwg_query_url(std::string_view url) {
  static constexpr char digits[] = "0123456789ABCDEF";
  auto p = split_url(url);
  if (!p.has_query) return std::nullopt;
  std::string out(p.head);
  out += '?';
  for (unsigned char c : p.query) {
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '<' || c == '>' || c == '\'') {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + std::string(p.tail);
}

// The URL as received, and with / without the scheme's default port.
std::vector<std::string> port_variants(std::string_view url) {
  std::vector<std::string> out{std::string(url)};
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return out;
  std::uint16_t default_port = parsed->scheme_id() == boost::urls::scheme::https  ? 443
                               : parsed->scheme_id() == boost::urls::scheme::http ? 80
                                                                                  : 0;
  if (default_port == 0) return out;
  boost::urls::url u(*parsed);
  if (u.has_port()) {
    if (u.port_number() == default_port) {
      u.remove_port();
      out.emplace_back(u.buffer());
    }
  } else {
    u.set_port_number(default_port);
    out.emplace_back(u.buffer());
  }
  return out;
}

engine::webhook_refused refused(int status, std::string reason, bool security = false) {
  return engine::webhook_refused{status, std::move(reason), security};
}

engine::message_state state_of(std::string_view status) {
  using engine::message_state;
  if (status == "delivered" || status == "read") return message_state::delivered;
  if (status == "undelivered") return message_state::undelivered;
  if (status == "failed" || status == "canceled") return message_state::failed;
  return message_state::submitted;
}

std::int64_t our_id(std::string_view query) {
  auto params = parse_form(query);
  if (!params) return 0;
  const auto* id = find_param(*params, "id");
  if (!id) return 0;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(id->data(), id->data() + id->size(), n);
  return ec == std::errc{} && end == id->data() + id->size() && n > 0 ? n : 0;
}

}  // namespace

namespace {

// The signed text after the URL: every key+value, sorted by key then value, duplicates once.
std::string sorted_params(const form_params& params) {
  std::map<std::string, std::set<std::string>> sorted;
  for (const auto& [k, v] : params) sorted[k].insert(v);
  std::string data;
  for (const auto& [k, values] : sorted)
    for (const auto& v : values) data += k + v;
  return data;
}

}  // namespace

std::string compute_signature(std::string_view auth_token, std::string_view url,
                              const form_params& params) {
  return base64_encode(hmac_sha1(auth_token, std::string(url) + sorted_params(params)));
}

bool validate_signature(std::string_view auth_token, std::string_view signature,
                        std::string_view url, const form_params& params,
                        std::optional<std::string_view> body) {
  if (signature.empty()) return false;
  // The URL as received first (the usual match), then its variants. Each comparison is
  // constant-time; which variant matched is no secret (the URL is public), so trying stops at
  // the first match.
  const auto suffix = sorted_params(params);
  auto matches = [&](const std::string& candidate) {
    return constant_time_equal(base64_encode(hmac_sha1(auth_token, candidate + suffix)), signature);
  };
  const std::string received(url);
  bool match = matches(received);
  if (!match) {
    std::vector<std::string> candidates;
    for (auto& u : port_variants(url)) {
      if (auto legacy = legacy_query_url(u)) candidates.push_back(std::move(*legacy));
      if (auto whatwg = whatwg_query_url(u)) candidates.push_back(std::move(*whatwg));
      candidates.push_back(std::move(u));
    }
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (const auto& candidate : candidates)
      if (candidate != received && (match = matches(candidate))) break;
  }
  if (!match) return false;

  auto query = parse_form(split_url(url).query);
  const std::string* hash = query ? find_param(*query, "bodySHA256") : nullptr;
  if (!hash) return true;
  // JSON variant: the body is covered by its hash, which the signed URL carries.
  if (!params.empty() || !body) return false;
  std::string expected = *hash;
  for (auto& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return constant_time_equal(hex_encode(sha256(*body)), expected);
}

settings parse_settings(const config::provider_config& cfg) {
  settings_reader r(
      cfg, "twilio",
      {"base_url", "account_sid", "auth_token", "from", "messaging_service_sid", "timeout"});
  settings s;
  s.base_url = r.get("base_url", s.base_url);
  {
    auto parsed = boost::urls::parse_uri(s.base_url);
    if (!parsed ||
        (parsed->scheme_id() != boost::urls::scheme::http &&
         parsed->scheme_id() != boost::urls::scheme::https) ||
        parsed->encoded_host().empty() || parsed->has_query())
      r.fail_at("base_url", "key 'base_url' of " + r.label() + " is '" + s.base_url +
                                "'; expected an http(s) URL with a host and no query");
  }
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  s.account_sid = r.required("account_sid");
  if (!s.account_sid.empty() && !has_sid_shape(s.account_sid, "AC"))
    r.fail_at("account_sid", "key 'account_sid' of " + r.label() +
                                 " is not a Twilio account SID (AC followed by 32 hex digits)");
  s.auth_token = r.required("auth_token");
  s.from = r.get("from");
  s.messaging_service_sid = r.get("messaging_service_sid");
  if (s.from.empty() && s.messaging_service_sid.empty())
    r.fail(cfg.where, r.label() + " needs key 'from' or 'messaging_service_sid'");
  if (!s.messaging_service_sid.empty() && !has_sid_shape(s.messaging_service_sid, "MG"))
    r.fail_at("messaging_service_sid",
              "key 'messaging_service_sid' of " + r.label() +
                  " is not a Twilio messaging service SID (MG followed by 32 hex digits)");
  s.timeout = r.duration("timeout", s.timeout);
  r.throw_if_any();
  return s;
}

codec::codec(settings s)
    : settings_(std::move(s)),
      url_(settings_.base_url + "/2010-04-01/Accounts/" + settings_.account_sid + "/Messages.json"),
      authorization_(basic_authorization(settings_.account_sid, settings_.auth_token)) {}

std::optional<engine::rejected> codec::refuse(const engine::outbound_message& message) const {
  if (message.media.size() <= max_media) return std::nullopt;
  return engine::rejected{"too-many-media",
                          std::to_string(message.media.size()) +
                              " media URLs; Twilio takes at most " + std::to_string(max_media),
                          false, engine::fault::recipient};
}

engine::http_request codec::build_submit(const engine::outbound_message& message) const {
  std::string body = "To=" + form_encode(message.to);
  if (!settings_.from.empty()) body += "&From=" + form_encode(settings_.from);
  if (!settings_.messaging_service_sid.empty())
    body += "&MessagingServiceSid=" + form_encode(settings_.messaging_service_sid);
  body += "&Body=" + form_encode(message.text);
  for (const auto& media : message.media) body += "&MediaUrl=" + form_encode(media);
  if (!message.status_callback_url.empty())
    body +=
        "&StatusCallback=" + form_encode(callback_with_id(message.status_callback_url, message.id));
  if (message.expires && message.now) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*message.expires - *message.now);
    auto seconds = std::clamp<long long>(left.count(), 1, 36000);
    body += "&ValidityPeriod=" + std::to_string(seconds);
  }

  engine::http_request request;
  request.method = "POST";
  request.url = url_;
  request.headers = {{"Authorization", authorization_},
                     {"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = std::move(body);
  request.timeout = settings_.timeout;
  return request;
}

engine::submit_verdict codec::parse_submit_reply(const engine::http_response& response) const {
  using engine::fault;
  const int status = response.status;
  boost::json::error_code ec;
  auto doc = boost::json::parse(response.body, ec);
  if (ec || !doc.is_object()) doc = nullptr;

  if (status >= 200 && status <= 299) {
    const auto* obj = doc.if_object();
    const auto* sid = obj ? obj->if_contains("sid") : nullptr;
    if (sid && sid->is_string() && !sid->get_string().empty())
      return engine::accepted{std::string(sid->get_string())};
    return engine::retry_later{std::chrono::milliseconds(0), "bad-reply",
                               "Twilio replied " + std::to_string(status) +
                                   " without a message sid: " + short_reason(response.body),
                               fault::carrier};
  }

  auto code = member_text(doc, "code");
  auto text = short_reason(member_text(doc, "message"));
  if (text.empty()) text = short_reason(response.body);
  if (text.empty()) text = "HTTP " + std::to_string(status);
  if (code.empty()) code = std::to_string(status);

  if (code == "20429" || code == "21611" || is_transient_status(status))
    return engine::retry_later{retry_after(response), std::move(code), std::move(text),
                               fault::carrier};
  if (status == 401 || status == 403 || code == "20003" || status == 404 || is_account_code(code) ||
      (status >= 300 && status <= 399) || status < 200 || doc.is_null())
    return engine::retry_later{std::chrono::milliseconds(0), std::move(code), std::move(text),
                               fault::carrier};
  const bool opted_out = code == "21610";
  return engine::rejected{std::move(code), std::move(text), opted_out, fault::recipient};
}

engine::webhook_result codec::parse_webhook(engine::webhook_kind kind,
                                            const engine::webhook_request& request) const {
  // 1. Authenticity, before anything in the request is looked at.
  const auto signature = header_of(request.headers, "x-twilio-signature");
  if (signature.empty()) return refused(403, "missing X-Twilio-Signature", true);
  auto query = parse_form(request.query);
  if (!query) return refused(403, "malformed query string; signature cannot be checked", true);
  const bool json_body = find_param(*query, "bodySHA256") != nullptr;

  form_params params;
  if (json_body) {
    if (!validate_signature(settings_.auth_token, signature, request.url, {}, request.body))
      return refused(403, "X-Twilio-Signature or bodySHA256 does not match", true);
    boost::json::error_code ec;
    auto doc = boost::json::parse(request.body, ec);
    if (ec || !doc.is_object()) return refused(400, "JSON body is not an object");
    for (const auto& [k, v] : doc.get_object()) {
      auto text = member_text(doc, k);
      if (!text.empty() || v.is_string()) params.emplace_back(std::string(k), std::move(text));
    }
  } else {
    if (request.method == "POST") {
      auto form = parse_form(request.body);
      if (!form) return refused(403, "malformed form body; signature cannot be checked", true);
      params = std::move(*form);
    }
    if (!validate_signature(settings_.auth_token, signature, request.url, params))
      return refused(403, "X-Twilio-Signature does not match", true);
    // A callback configured as GET carries its fields in the (signed) query.
    if (request.method != "POST") params = std::move(*query);
  }

  // 2. The events.
  auto get = [&](std::string_view key, std::string_view alt = {}) -> std::string {
    if (const auto* v = find_param(params, key)) return *v;
    if (!alt.empty())
      if (const auto* v = find_param(params, alt)) return *v;
    return {};
  };
  engine::webhook_events events;
  if (kind == engine::webhook_kind::status) {
    engine::delivery_event e;
    e.carrier_id = get("MessageSid", "SmsSid");
    e.status = get("MessageStatus", "SmsStatus");
    if (e.carrier_id.empty()) return refused(400, "status callback without MessageSid");
    if (e.status.empty()) return refused(400, "status callback without MessageStatus");
    e.message_id = our_id(request.query);
    e.state = state_of(e.status);
    e.error_code = get("ErrorCode");
    e.error_text = get("ErrorMessage");
    e.at = request.received_at;
    events.receipts.push_back(std::move(e));
  } else {
    engine::inbound_event e;
    e.from = get("From");
    e.to = get("To");
    e.text = get("Body");
    e.carrier_id = get("MessageSid", "SmsSid");
    if (e.from.empty()) return refused(400, "inbound message without From");
    if (e.carrier_id.empty()) return refused(400, "inbound message without MessageSid");
    e.at = request.received_at;
    events.inbound.push_back(std::move(e));
    events.reply_content_type = "text/xml";
    events.reply_body = "<Response/>";
  }
  return events;
}

std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg) {
  return std::make_unique<codec>(parse_settings(cfg));
}

}  // namespace pigeon::providers::twilio
