// simulator: pigeon's built-in carrier simulator. The wire format is fixed; the server side
// (`pigeon simulate-carrier`) implements exactly this.
//
// What it sends (one request per message):
//   POST {url}/messages
//   Content-Type: application/json
//   {"to":"+8613800138000","from":"pigeon","text":"...","ref":"<pigeon message id>",
//    "kind":"sms"|"mms","subject":"...","media":["https://..."]}
//   Every member is always present (subject "" and media [] for SMS), so the server never has
//   to guess about a missing one.
//
// How replies map (the simulator's error codes imitate Twilio's):
//   201 (any 2xx) {"id":"SIM-<n>","message_id":"SIM-<n>","status":"accepted"}
//                                                     -> accepted{id, else message_id}
//   2xx without an id                                 -> rejected{"no-id"} (as generic-http)
//   429 {"code":"20429"} Retry-After: <s>             -> retry_later{after, "20429"}
//   503 {"code":"503"}, 408, 425, any 5xx             -> retry_later{Retry-After or 0, code}
//   400 {"code":"21610"} (recipient sent STOP)        -> rejected{"21610", opted_out = true}
//   400 {"code":"21211"} (bad number), any other 4xx  -> rejected{code}
//   The code is the body's "code" (string or number) and the text its "message"; a body that
//   is not JSON gives the HTTP status as the code and the body as the text.
#include "providers/simulator.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <utility>

#include "providers/reply.hpp"
#include "providers/settings.hpp"

namespace pigeon::providers::simulator {

namespace {

// The opt-out code (Twilio's "Attempt to send to unsubscribed recipient").
constexpr std::string_view opted_out_code = "21610";

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

}  // namespace

settings parse_settings(const config::provider_config& cfg, const std::string& embedded_url) {
  settings_reader r(cfg, "simulator", {"url", "from", "timeout", "webhook_token"});
  settings s;
  const auto* url = r.find("url");
  s.url = url ? url->value : embedded_url;
  if (s.url.empty()) {
    r.fail(url ? url->where : cfg.where,
           r.label() + " has no url and no embedded simulator is running to provide one");
  } else {
    auto parsed = boost::urls::parse_uri(s.url);
    if (!parsed ||
        (parsed->scheme_id() != boost::urls::scheme::http &&
         parsed->scheme_id() != boost::urls::scheme::https) ||
        parsed->encoded_host().empty())
      r.fail(url ? url->where : cfg.where,
             "url '" + s.url + "' of " + r.label() + " is not an http(s) URL with a host");
  }
  while (!s.url.empty() && s.url.back() == '/') s.url.pop_back();
  s.from = r.get("from", s.from);
  s.timeout = r.duration("timeout", s.timeout);
  s.webhook_token = r.get("webhook_token", s.webhook_token);
  r.throw_if_any();
  return s;
}

codec::codec(settings s) : settings_(std::move(s)) {}

engine::http_request codec::build_submit(const engine::outbound_message& message) const {
  boost::json::array media;
  for (const auto& m : message.media) media.emplace_back(m);
  boost::json::object body;
  body["to"] = message.to;
  body["from"] = settings_.from;
  body["text"] = message.text;
  body["ref"] = std::to_string(message.id);
  body["kind"] = message.kind;
  body["subject"] = message.subject;
  body["media"] = std::move(media);

  engine::http_request request;
  request.method = "POST";
  request.url = settings_.url + "/messages";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = boost::json::serialize(body);
  request.timeout = settings_.timeout;
  return request;
}

engine::submit_verdict codec::parse_submit_reply(const engine::http_response& response) const {
  const int status = response.status;
  boost::json::error_code ec;
  auto doc = boost::json::parse(response.body, ec);
  if (ec) doc = nullptr;

  if (status >= 200 && status <= 299) {
    auto id = member_text(doc, "id");
    if (id.empty()) id = member_text(doc, "message_id");
    if (!id.empty()) return engine::accepted{std::move(id)};
    // See generic_http.cpp: a 2xx we cannot match DLRs to is refused, never resent.
    return engine::rejected{"no-id", "simulator replied " + std::to_string(status) +
                                         " without an id: " + short_reason(response.body)};
  }

  auto code = member_text(doc, "code");
  if (code.empty()) code = std::to_string(status);
  auto text = member_text(doc, "message");
  if (text.empty()) text = short_reason(response.body);
  if (text.empty()) text = "HTTP " + std::to_string(status);
  text = short_reason(text);

  if (is_transient_status(status))
    return engine::retry_later{retry_after(response), std::move(code), std::move(text)};
  const bool opted_out = code == opted_out_code;
  return engine::rejected{std::move(code), std::move(text), opted_out};
}

// Webhooks (minimal, for tests and the e2e suite): JSON bodies,
//   status:  {"ref": "<pigeon id>", "id": "<carrier id>", "status": "delivered", "error_code": ""}
//   inbound: {"from": "+86...", "to": "pigeon", "text": "STOP", "id": "<carrier id>"}
// With `webhook_token` set, the request must carry it in `X-Simulator-Token` (else 403).
engine::webhook_result codec::parse_webhook(engine::webhook_kind kind,
                                            const engine::webhook_request& request) const {
  if (!settings_.webhook_token.empty()) {
    auto it = request.headers.find("x-simulator-token");
    if (it == request.headers.end() || it->second != settings_.webhook_token)
      return engine::webhook_refused{403, "missing or wrong X-Simulator-Token", true};
  }
  boost::json::error_code ec;
  auto doc = boost::json::parse(request.body, ec);
  if (ec || !doc.is_object()) return engine::webhook_refused{400, "expected a JSON object", false};
  engine::webhook_events events;
  if (kind == engine::webhook_kind::status) {
    engine::delivery_event e;
    e.carrier_id = member_text(doc, "id");
    auto ref = member_text(doc, "ref");
    if (!ref.empty()) {
      try {
        e.message_id = std::stoll(ref);
      } catch (const std::exception&) {
        return engine::webhook_refused{400, "ref is not a message id", false};
      }
    }
    e.status = member_text(doc, "status");
    if (e.status == "delivered") {
      e.state = engine::message_state::delivered;
    } else if (e.status == "undelivered") {
      e.state = engine::message_state::undelivered;
    } else if (e.status == "failed") {
      e.state = engine::message_state::failed;
    } else if (e.status == "accepted" || e.status == "sent" || e.status == "submitted") {
      e.state = engine::message_state::submitted;
    } else {
      return engine::webhook_refused{400, "unknown status '" + e.status + "'", false};
    }
    if (e.carrier_id.empty() && e.message_id == 0)
      return engine::webhook_refused{400, "a status needs ref or id", false};
    e.error_code = member_text(doc, "error_code");
    e.at = request.received_at;
    events.receipts.push_back(std::move(e));
  } else {
    engine::inbound_event e;
    e.from = member_text(doc, "from");
    e.to = member_text(doc, "to");
    e.text = member_text(doc, "text");
    e.carrier_id = member_text(doc, "id");
    e.at = request.received_at;
    if (e.from.empty()) return engine::webhook_refused{400, "an inbound message needs from", false};
    events.inbound.push_back(std::move(e));
  }
  return events;
}

std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg,
                                            const std::string& embedded_url) {
  return std::make_unique<codec>(parse_settings(cfg, embedded_url));
}

}  // namespace pigeon::providers::simulator
