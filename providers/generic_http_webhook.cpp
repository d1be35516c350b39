// generic-http webhooks: JSON delivery reports and inbound messages from a configurable
// gateway, authenticated by an HMAC-SHA256 signature with a replay window.
//
// Authenticity (checked first; any failure -> 403, security):
//   {webhook_timestamp_header}: Unix seconds          (default X-Timestamp)
//   {webhook_signature_header}: hex(HMAC-SHA256(webhook_secret, timestamp "." raw body)),
//                                optionally prefixed "sha256="      (default X-Signature)
//   |received_at - timestamp| <= webhook_tolerance (default 300s): an old or future request is a
//   replay. Without webhook_secret every webhook is refused.
// Payload: one JSON object or an array of them. Fields are found through JSON pointers:
//   status:  dlr_id_pointer (/id, the carrier's id), dlr_ref_pointer (/ref, pigeon's id, as
//            sent in {{id}}), dlr_status_pointer (/status), dlr_error_code_pointer
//            (/error_code), dlr_error_text_pointer (/error_text). Status words: delivered ->
//            delivered; undelivered, expired -> undelivered; failed, rejected, error -> failed;
//            anything else (accepted, queued, sent, enroute, buffered) -> submitted.
//   inbound: mo_from_pointer (/from), mo_to_pointer (/to), mo_text_pointer (/text),
//            mo_id_pointer (/id).
// Strings or integers are read; a report without an id and a ref, or without a status, or an
// inbound without from, is malformed (400).
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>

#include "providers/generic_http.hpp"
#include "providers/webhook_util.hpp"

namespace pigeon::providers::generic_http {

namespace {

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string text_at(const boost::json::value& doc, const std::string& pointer) {
  boost::json::error_code ec;
  const auto* v = doc.find_pointer(pointer, ec);
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return {};
}

engine::message_state state_of(const std::string& word) {
  using engine::message_state;
  auto w = lower(word);
  if (w == "delivered") return message_state::delivered;
  if (w == "undelivered" || w == "expired") return message_state::undelivered;
  if (w == "failed" || w == "rejected" || w == "error") return message_state::failed;
  return message_state::submitted;
}

engine::webhook_refused refused(int status, std::string reason, bool security = false) {
  return engine::webhook_refused{status, std::move(reason), security};
}

}  // namespace

const std::vector<std::string>& webhook_keys() {
  static const std::vector<std::string> keys = {"webhook_secret",
                                                "webhook_signature_header",
                                                "webhook_timestamp_header",
                                                "webhook_tolerance",
                                                "dlr_id_pointer",
                                                "dlr_ref_pointer",
                                                "dlr_status_pointer",
                                                "dlr_error_code_pointer",
                                                "dlr_error_text_pointer",
                                                "mo_from_pointer",
                                                "mo_to_pointer",
                                                "mo_text_pointer",
                                                "mo_id_pointer"};
  return keys;
}

void read_webhook_settings(settings_reader& r, webhook_settings& w) {
  w.secret = r.get("webhook_secret");
  w.signature_header = lower(r.get("webhook_signature_header", w.signature_header));
  w.timestamp_header = lower(r.get("webhook_timestamp_header", w.timestamp_header));
  auto tolerance = r.duration("webhook_tolerance", std::chrono::seconds(300));
  w.tolerance = std::chrono::duration_cast<std::chrono::seconds>(tolerance);
  if (w.tolerance.count() < 1) w.tolerance = std::chrono::seconds(1);
  struct pointer_key {
    const char* key;
    std::string* out;
  };
  for (auto [key, out] :
       {pointer_key{"dlr_id_pointer", &w.dlr_id}, pointer_key{"dlr_ref_pointer", &w.dlr_ref},
        pointer_key{"dlr_status_pointer", &w.dlr_status},
        pointer_key{"dlr_error_code_pointer", &w.dlr_error_code},
        pointer_key{"dlr_error_text_pointer", &w.dlr_error_text},
        pointer_key{"mo_from_pointer", &w.mo_from}, pointer_key{"mo_to_pointer", &w.mo_to},
        pointer_key{"mo_text_pointer", &w.mo_text}, pointer_key{"mo_id_pointer", &w.mo_id}}) {
    const auto* v = r.find(key);
    if (!v) continue;
    if (v->value.empty() || v->value.front() != '/')
      r.fail(v->where, "key '" + std::string(key) + "' of " + r.label() + " is '" + v->value +
                           "'; a JSON pointer starts with '/'");
    *out = v->value;
  }
}

engine::webhook_result codec::parse_webhook(engine::webhook_kind kind,
                                            const engine::webhook_request& request) const {
  if (settings_.webhook.secret.empty())
    return refused(403, "no webhook_secret is configured", true);
  return parse_json_webhook(settings_.webhook, kind, request, true);
}

engine::webhook_result parse_json_webhook(const webhook_settings& w, engine::webhook_kind kind,
                                          const engine::webhook_request& request,
                                          bool verify_signature) {
  // 1. Authenticity: signature over timestamp "." body, then the replay window.
  if (verify_signature) {
    auto authentic = check_signature(w, request);
    if (authentic) return *authentic;
  }
  return parse_json_payload(w, kind, request);
}

std::optional<engine::webhook_refused> check_signature(const webhook_settings& w,
                                                       const engine::webhook_request& request) {
  if (w.secret.empty()) return refused(403, "no webhook secret is configured", true);
  auto signature = header_of(request.headers, w.signature_header);
  const auto timestamp = header_of(request.headers, w.timestamp_header);
  if (signature.empty() || timestamp.empty())
    return refused(403, "missing signature or timestamp header", true);
  if (signature.starts_with("sha256=")) signature.remove_prefix(7);
  const auto expected =
      hex_encode(hmac_sha256(w.secret, std::string(timestamp) + "." + request.body));
  if (!constant_time_equal(lower(std::string(signature)), expected))
    return refused(403, "signature does not match", true);
  long long seconds = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (ec != std::errc{} || end != timestamp.data() + timestamp.size())
    return refused(403, "timestamp is not Unix seconds", true);
  const auto sent = engine::time_point(std::chrono::seconds(seconds));
  const auto skew =
      request.received_at > sent ? request.received_at - sent : sent - request.received_at;
  if (skew > w.tolerance)
    return refused(
        403, "timestamp outside the " + std::to_string(w.tolerance.count()) + " s replay window",
        true);
  return std::nullopt;
}

engine::webhook_result parse_json_payload(const webhook_settings& w, engine::webhook_kind kind,
                                          const engine::webhook_request& request) {
  // 2. The events.
  boost::json::error_code json_ec;
  auto doc = boost::json::parse(request.body, json_ec);
  if (json_ec) return refused(400, "body is not JSON: " + json_ec.message());
  std::vector<const boost::json::value*> items;
  if (doc.is_array())
    for (const auto& item : doc.get_array()) items.push_back(&item);
  else
    items.push_back(&doc);
  engine::webhook_events events;
  for (const auto* item : items) {
    if (!item->is_object()) return refused(400, "payload item is not a JSON object");
    if (kind == engine::webhook_kind::status) {
      engine::delivery_event e;
      e.carrier_id = text_at(*item, w.dlr_id);
      auto ref = text_at(*item, w.dlr_ref);
      std::int64_t id = 0;
      if (!ref.empty()) {
        auto [p, rec] = std::from_chars(ref.data(), ref.data() + ref.size(), id);
        if (rec != std::errc{} || p != ref.data() + ref.size() || id <= 0)
          return refused(400, "ref '" + ref + "' is not a pigeon message id");
      }
      e.message_id = id;
      if (e.carrier_id.empty() && e.message_id == 0)
        return refused(400, "status report without an id or a ref");
      e.status = text_at(*item, w.dlr_status);
      if (e.status.empty()) return refused(400, "status report without a status");
      e.state = state_of(e.status);
      e.error_code = text_at(*item, w.dlr_error_code);
      e.error_text = text_at(*item, w.dlr_error_text);
      e.at = request.received_at;
      events.receipts.push_back(std::move(e));
    } else {
      engine::inbound_event e;
      e.from = text_at(*item, w.mo_from);
      e.to = text_at(*item, w.mo_to);
      e.text = text_at(*item, w.mo_text);
      e.carrier_id = text_at(*item, w.mo_id);
      if (e.from.empty()) return refused(400, "inbound message without from");
      e.at = request.received_at;
      events.inbound.push_back(std::move(e));
    }
  }
  return events;
}

}  // namespace pigeon::providers::generic_http
