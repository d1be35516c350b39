// simulator: pigeon's built-in carrier simulator. The wire format is fixed; the server side
// (`pigeon simulate-carrier`) implements exactly this.
//
// What it sends (one request per message):
//   POST {url}/messages
//   Content-Type: application/json
//   {"to":"+8613800138000","from":"pigeon","text":"...","ref":"<pigeon message id>",
//    "kind":"sms"|"mms","subject":"...","media":["https://..."]}
//   Every member is always present (subject "" and media [] for SMS), so the server never has
//   to guess about a missing one. "status_callback" (the message's status_callback_url) is
//   added when pigeon has a public URL: the simulator posts its delivery report there.
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
//
// Webhooks (what the simulator posts back, see engine/net/carrier_simulator.hpp):
//   status  {"id":"SIM-<n>","ref":"<pigeon id>","status":"delivered"|"undelivered",
//            "error_code":...}                      -> delivery_event
//   inbound {"id":"SIM-MO-<n>","from","to","text"}  -> inbound_event
//   X-Signature/X-Timestamp checked exactly as generic-http's (HMAC-SHA256 over timestamp "."
//   body, 300 s replay window) with the provider's webhook_secret: a simulator at a `url` must
//   have one (refused at load otherwise); the one `pigeon serve` embeds signs with the provider's
//   webhook_secret or, without one, a secret generated for the run. Unsigned or badly signed
//   callbacks -> 401 (any local process could otherwise forge receipts and replies).
#include "providers/simulator.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <utility>

#include "providers/generic_http.hpp"
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

settings parse_settings(const config::provider_config& cfg, const std::string& embedded_url,
                        const std::string& embedded_secret) {
  settings_reader r(cfg, "simulator", {"url", "from", "timeout", "webhook_secret"});
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
  s.webhook_secret = r.get("webhook_secret");
  if (url && s.webhook_secret.empty())
    r.fail(cfg.where, r.label() + " at url " + s.url +
                          " has no webhook_secret: set webhook_secret: \"${NAME}\" and start "
                          "`pigeon simulate-carrier --webhook-secret-env NAME`, so that its "
                          "delivery reports and replies are signed and no other process can "
                          "forge them");
  if (!url && s.webhook_secret.empty()) s.webhook_secret = embedded_secret;
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
  if (!message.status_callback_url.empty()) body["status_callback"] = message.status_callback_url;

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

engine::webhook_result codec::parse_webhook(engine::webhook_kind kind,
                                            const engine::webhook_request& request) const {
  generic_http::webhook_settings w;
  w.secret = settings_.webhook_secret;
  if (w.secret.empty())
    return engine::webhook_refused{
        401, "this simulator provider has no webhook_secret: its callbacks cannot be verified",
        true};
  return generic_http::parse_json_webhook(w, kind, request, true);
}

std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg,
                                            const std::string& embedded_url,
                                            const std::string& embedded_secret) {
  return std::make_unique<codec>(parse_settings(cfg, embedded_url, embedded_secret));
}

}  // namespace pigeon::providers::simulator
