// kannel: Kannel's smsbox sendsms interface (Kannel 1.4 user guide, "Kannel sendsms HTTP
// interface"), delivery reports through dlr-url and MOs through an sms-service get-url.
//
// What it sends (one request per message), with method: GET (default):
//   GET {url}?username=..&password=..&from=..&to={to}&text={text, UTF-8}&charset=UTF-8
//       [&coding=2]               when the text is not GSM-7 (Kannel converts UTF-8 to UCS-2)
//       [&smsc=..]                when configured
//       [&validity={minutes}]     expires - now, rounded up, when both are known
//       [&dlr-mask={dlr_mask}&dlr-url={status_callback_url}?id={id}&token={webhook_token}
//        &type=%d&ts=%T&smsc=%i&reply=%A]   when pigeon has a public URL and a webhook_token
//   method: POST sends the same as Kannel's POST form: the text as a text/plain; charset=UTF-8
//   body, every other parameter as its X-Kannel-* header (X-Kannel-DLR-Url, not encoded).
//   Kannel expands the % escapes when it calls the dlr-url: %d the report type, %T its time
//   (Unix seconds), %i the smsc-id, %A the SMSC's reply text.
//   Kannel's answer names no message id, so the carrier id is "kannel-<pigeon id>" and the
//   dlr-url carries pigeon's id; MMS subject and media are not sent (SMS only).
//
// How replies map (Kannel answers text/plain "<code>: <text>"):
//   202 "0: Accepted for delivery", "3: Queued for later delivery"   -> accepted{kannel-<id>}
//   2xx with anything else (HTML, garbage)                           -> retry_later, carrier
//   403 "Authorization failed" / "Denied", 401, 404 (wrong url), 3xx -> retry_later, carrier
//       (a configuration problem: the breaker opens and the route fails over; the message is fine)
//   400 "Missing receiver number", "Sender missing and no global set", "Number(s) fail
//       white/black list check", other 4xx                           -> rejected, recipient
//   503 "Sending failed." / "Message queue full", 5xx, 408, 429       -> retry_later, carrier
//
// Webhooks (`/webhooks/{provider}/status` and `/inbound`, GET or POST, params in the query and,
// for POST, a form body): refused with 403 (security) unless the peer's address is in
// allow_from AND the query's `token` equals webhook_token (constant-time). Then
//   status:  id (ours), type: 1 delivered, 2 undelivered, 4 buffered (submitted), 8 smsc
//            submit (submitted), 16 smsc reject (failed) -> delivery_event{kannel-<id>}
//   inbound: from, to, text, id (Kannel's %I) -> inbound_event; answered 200 with an empty
//            body (configure the sms-service with omit-empty = true so Kannel sends nothing).
#include "providers/kannel.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <charconv>
#include <utility>

#include "providers/reply.hpp"
#include "providers/settings.hpp"
#include "providers/webhook_util.hpp"
#include "templates/segments.hpp"

namespace pigeon::providers::kannel {

namespace {

std::string_view trim(std::string_view s) {
  constexpr std::string_view space = " \t\r\n";
  auto first = s.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

bool read_int(std::string_view text, long long& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    auto item = trim(std::string_view(text).substr(pos, comma - pos));
    if (!item.empty()) out.emplace_back(item);
    pos = comma + 1;
  }
  return out;
}

engine::webhook_refused refused(int status, std::string reason, bool security = false) {
  return engine::webhook_refused{status, std::move(reason), security};
}

}  // namespace

std::string carrier_id_for(std::int64_t message_id) {
  return "kannel-" + std::to_string(message_id);
}

settings parse_settings(const config::provider_config& cfg) {
  settings_reader r(cfg, "kannel",
                    {"url", "method", "username", "password", "from", "smsc", "dlr_mask",
                     "webhook_token", "allow_from", "timeout"});
  settings s;
  s.url = r.required("url");
  if (!s.url.empty()) {
    auto parsed = boost::urls::parse_uri(s.url);
    if (!parsed ||
        (parsed->scheme_id() != boost::urls::scheme::http &&
         parsed->scheme_id() != boost::urls::scheme::https) ||
        parsed->encoded_host().empty() || parsed->has_query())
      r.fail_at("url", "key 'url' of " + r.label() + " is '" + s.url +
                           "'; expected an http(s) URL with a host and no query, such as "
                           "http://127.0.0.1:13013/cgi-bin/sendsms");
  }
  s.method = r.one_of("method", {"GET", "POST"});
  s.username = r.required("username");
  for (const char* key : {"username", "password", "from", "smsc"})
    if (const auto* v = r.find(key); v && v->value.find_first_of("\r\n") != std::string::npos)
      r.fail(v->where, "key '" + std::string(key) + "' of " + r.label() + " contains a line break");
  if (!r.find("password")) r.fail(cfg.where, r.label() + " needs key 'password'");
  s.password = r.get("password");
  s.from = r.get("from");
  s.smsc = r.get("smsc");
  if (const auto* mask = r.find("dlr_mask")) {
    long long n = 0;
    if (!read_int(mask->value, n) || n < 0 || n > 31)
      r.fail(mask->where, "key 'dlr_mask' of " + r.label() + " is '" + mask->value +
                              "'; expected a bit mask from 0 to 31 (1 delivered, 2 undelivered, "
                              "4 buffered, 8 smsc submit, 16 smsc reject)");
    else
      s.dlr_mask = static_cast<int>(n);
  }
  s.webhook_token = r.get("webhook_token");
  if (const auto* token = r.find("webhook_token"); token && token->value.size() < 16)
    r.fail(token->where, "key 'webhook_token' of " + r.label() +
                             " is too short to be a secret; use at least 16 characters");
  if (const auto* allow = r.find("allow_from")) {
    s.allow_from = split_list(allow->value);
    if (s.allow_from.empty())
      r.fail(allow->where, "key 'allow_from' of " + r.label() + " lists no address");
  }
  s.timeout = r.duration("timeout", s.timeout);
  r.throw_if_any();
  return s;
}

codec::codec(settings s) : settings_(std::move(s)) {}

engine::http_request codec::build_submit(const engine::outbound_message& message) const {
  // The sendsms parameters (CGI name, X-Kannel header for POST), text and charset aside.
  std::vector<std::pair<std::string_view, std::string>> params;
  params.reserve(10);
  params.emplace_back("username", settings_.username);
  params.emplace_back("password", settings_.password);
  if (!settings_.from.empty()) params.emplace_back("from", settings_.from);
  params.emplace_back("to", message.to);
  if (templates::count_segments(message.text).enc == templates::encoding::ucs2)
    params.emplace_back("coding", "2");
  if (!settings_.smsc.empty()) params.emplace_back("smsc", settings_.smsc);
  if (message.expires && message.now) {
    auto left = std::chrono::ceil<std::chrono::minutes>(*message.expires - *message.now).count();
    params.emplace_back("validity", std::to_string(left < 1 ? 1 : left));
  }
  if (!message.status_callback_url.empty() && !settings_.webhook_token.empty() &&
      settings_.dlr_mask != 0) {
    const auto& cb = message.status_callback_url;
    params.emplace_back("dlr-mask", std::to_string(settings_.dlr_mask));
    params.emplace_back("dlr-url", cb + (cb.find('?') == std::string::npos ? "?" : "&") +
                                       "id=" + std::to_string(message.id) +
                                       "&token=" + form_encode(settings_.webhook_token) +
                                       "&type=%d&ts=%T&smsc=%i&reply=%A");
  }

  engine::http_request request;
  request.timeout = settings_.timeout;
  if (settings_.method == "POST") {
    // Kannel's POST form: the text is the body, everything else X-Kannel-* headers.
    static constexpr std::pair<std::string_view, std::string_view> header_names[] = {
        {"username", "X-Kannel-Username"}, {"password", "X-Kannel-Password"},
        {"from", "X-Kannel-From"},         {"to", "X-Kannel-To"},
        {"coding", "X-Kannel-Coding"},     {"smsc", "X-Kannel-SMSC"},
        {"validity", "X-Kannel-Validity"}, {"dlr-mask", "X-Kannel-DLR-Mask"},
        {"dlr-url", "X-Kannel-DLR-Url"}};
    request.method = "POST";
    request.url = settings_.url;
    request.headers.emplace_back("Content-Type", "text/plain; charset=UTF-8");
    for (const auto& [name, value] : params)
      for (const auto& [cgi, header] : header_names)
        if (cgi == name) request.headers.emplace_back(std::string(header), value);
    request.body = message.text;
    return request;
  }
  std::string url = settings_.url;
  char separator = '?';
  for (const auto& [name, value] : params) {
    url += separator;
    url += name;
    url += '=';
    url += form_encode(value);
    separator = '&';
    if (name == "to") url += "&text=" + form_encode(message.text) + "&charset=UTF-8";
  }
  request.method = "GET";
  request.url = std::move(url);
  return request;
}

engine::submit_verdict codec::parse_submit_reply(const engine::http_response& response) const {
  using engine::fault;
  const int status = response.status;
  const auto text = short_reason(response.body);
  const auto body = trim(response.body);
  // "0: Accepted for delivery", "3: Queued for later delivery"; Kannel 1.4 answers 202.
  if (status >= 200 && status <= 299) {
    if (body.starts_with("0:") || body.starts_with("3:")) return engine::accepted{};
    return engine::retry_later{
        std::chrono::milliseconds(0), "bad-reply",
        "Kannel replied " + std::to_string(status) + " without 'Accepted' or 'Queued': " + text,
        fault::carrier};
  }
  std::string code = std::to_string(status);
  std::string reason = text.empty() ? "HTTP " + code : text;
  if (is_transient_status(status) || status == 401 || status == 403 || status == 404 ||
      status < 200 || (status >= 300 && status <= 399))
    return engine::retry_later{retry_after(response), std::move(code), std::move(reason),
                               fault::carrier};
  return engine::rejected{std::move(code), std::move(reason), false, fault::recipient};
}

engine::submit_verdict codec::parse_submit_reply_for(const engine::outbound_message& message,
                                                     const engine::http_response& response) const {
  auto verdict = parse_submit_reply(response);
  if (auto* a = std::get_if<engine::accepted>(&verdict)) a->carrier_id = carrier_id_for(message.id);
  return verdict;
}

engine::webhook_result codec::parse_webhook(engine::webhook_kind kind,
                                            const engine::webhook_request& request) const {
  // 1. Authenticity: the peer's address, then the secret token in the URL.
  // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
  std::string_view peer = request.remote_address;
  if (peer.starts_with("::ffff:") && peer.find('.') != std::string_view::npos)
    peer.remove_prefix(7);
  bool allowed = false;
  for (const auto& address : settings_.allow_from) allowed |= address == peer;
  if (!allowed)
    return refused(403, "address " + request.remote_address + " is not in allow_from", true);
  if (settings_.webhook_token.empty())
    return refused(403, "no webhook_token is configured for this provider", true);
  auto query = parse_form(request.query);
  if (!query) return refused(403, "malformed query string; token cannot be checked", true);
  const auto* token = find_param(*query, "token");
  if (!token) return refused(403, "missing token", true);
  if (!constant_time_equal(*token, settings_.webhook_token))
    return refused(403, "wrong token", true);

  // 2. The events: parameters from the query, and from a form body on POST.
  form_params params = std::move(*query);
  if (request.method == "POST" && !request.body.empty()) {
    auto form = parse_form(request.body);
    if (!form) return refused(400, "malformed form body");
    params.insert(params.end(), form->begin(), form->end());
  }
  auto get = [&](std::string_view key) {
    const auto* v = find_param(params, key);
    return v ? *v : std::string();
  };

  engine::webhook_events events;
  if (kind == engine::webhook_kind::status) {
    long long id = 0, type = 0;
    if (!read_int(get("id"), id) || id <= 0) return refused(400, "DLR without a valid id");
    if (!read_int(get("type"), type)) return refused(400, "DLR without a numeric type");
    engine::delivery_event e;
    e.message_id = id;
    e.carrier_id = carrier_id_for(id);
    switch (type) {
      case 1:
        e.state = engine::message_state::delivered;
        e.status = "delivered";
        break;
      case 2:
        e.state = engine::message_state::undelivered;
        e.status = "undelivered";
        break;
      case 4:
        e.status = "buffered";
        break;
      case 8:
        e.status = "smsc-submit";
        break;
      case 16:
        e.state = engine::message_state::failed;
        e.status = "smsc-reject";
        break;
      default:
        return refused(400, "DLR type " + std::to_string(type) + " is not 1, 2, 4, 8 or 16");
    }
    if (e.state == engine::message_state::undelivered || e.state == engine::message_state::failed) {
      e.error_code = "dlr-" + std::to_string(type);
      e.error_text = short_reason(get("reply"));
    }
    long long ts = 0;
    e.at = read_int(get("ts"), ts) && ts > 0 ? engine::time_point(std::chrono::seconds(ts))
                                             : request.received_at;
    events.receipts.push_back(std::move(e));
  } else {
    engine::inbound_event e;
    e.from = get("from");
    e.to = get("to");
    e.text = get("text");
    e.carrier_id = get("id");
    if (e.from.empty()) return refused(400, "inbound message without from");
    e.at = request.received_at;
    events.inbound.push_back(std::move(e));
  }
  return events;
}

std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg) {
  return std::make_unique<codec>(parse_settings(cfg));
}

std::vector<std::string> warnings(const config::provider_config& cfg,
                                  const std::string& public_url) {
  if (auto mask = cfg.settings.find("dlr_mask");
      mask != cfg.settings.end() && mask->second.value == "0")
    return {};
  std::vector<std::string> out;
  const std::string no_receipts = ": Kannel is sent no dlr-url, so no delivery receipt will arrive";
  if (!cfg.settings.contains("webhook_token"))
    out.push_back("provider " + cfg.name + " (kannel) has no webhook_token" + no_receipts +
                  " (set webhook_token: \"${KANNEL_WEBHOOK_TOKEN}\", 16 characters or more)");
  if (public_url.empty())
    out.push_back("provider " + cfg.name + " (kannel): pigeon has no public_url" + no_receipts +
                  " (set public_url to the base URL Kannel can call back)");
  return out;
}

}  // namespace pigeon::providers::kannel
