#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"
#include "providers/settings.hpp"

namespace pigeon::providers::generic_http {

// A configurable JSON or form HTTP gateway: the operator describes the request (URL, method,
// body template, headers, auth) and where the carrier id is in the reply. See the comment block
// in generic_http.cpp for what is sent and how replies map onto verdicts.

enum class body_format { json, form };

// One piece of a parsed body template: literal text, or a placeholder to fill in.
struct template_part {
  enum class field { literal, to, from, text, id };
  field what = field::literal;
  std::string literal;  // set for field::literal
};

// Signing of submissions (auth: hmac): header `signature_header` = hex(HMAC-SHA256(secret,
// timestamp "." body)), header `timestamp_header` = the timestamp (Unix seconds of the
// message's `now`).
struct hmac_auth {
  std::string secret;
  std::string signature_header = "X-Signature";
  std::string timestamp_header = "X-Timestamp";
};

// Webhooks (`/webhooks/{provider}/status|inbound`): JSON bodies signed with HMAC-SHA256 over
// timestamp "." body, within a replay window; fields found through JSON pointers.
struct webhook_settings {
  std::string secret;                            // empty: webhooks refused (403)
  std::string signature_header = "x-signature";  // lower-cased
  std::string timestamp_header = "x-timestamp";  // lower-cased
  std::chrono::seconds tolerance{300};
  // status: carrier id, our id, the status word, error code, error text
  std::string dlr_id = "/id", dlr_ref = "/ref", dlr_status = "/status",
              dlr_error_code = "/error_code", dlr_error_text = "/error_text";
  // inbound: from, to, text, carrier id
  std::string mo_from = "/from", mo_to = "/to", mo_text = "/text", mo_id = "/id";
};

// The provider's validated settings (the `providers.<name>` map of the engine config).
struct settings {
  std::string url;              // required; http or https
  std::string method = "POST";  // POST | PUT
  body_format format = body_format::json;
  std::vector<template_part> body;  // parsed once from `body` (or the format's default)
  std::string from;
  engine::header_list headers;     // `headers.*`, plus Authorization when `auth` is set
  std::string id_pointer = "/id";  // JSON pointer into a 2xx reply
  std::chrono::milliseconds timeout{10000};
  std::optional<hmac_auth> hmac;         // auth: hmac
  std::size_t batch = 1;                 // batch: N (JSON only): up to N messages per request
  std::string batch_results_pointer;     // where the per-item array is in the reply ("" = root)
  std::string batch_id_pointer = "/id";  // the carrier id inside one item
  webhook_settings webhook;
};

// Reads and checks `cfg.settings`. Throws config::config_error listing every problem, each at
// its key's file:line:col: unknown keys, a missing or non-http(s) url, an unknown placeholder
// in `body`, a JSON body that is not JSON, auth without its credentials, and so on.
settings parse_settings(const config::provider_config& cfg);

// Splits a body template into literals and {{to}}/{{from}}/{{text}}/{{id}}; `where` locates
// errors (unknown placeholder, unclosed "{{"). Throws config::config_error.
std::vector<template_part> parse_body_template(const std::string& text,
                                               const config::source_location& where);

// The codec. Immutable after construction; methods are const and thread-safe.
class codec final : public engine::carrier_codec {
 public:
  explicit codec(settings s);

  std::string_view kind() const override { return "generic-http"; }
  engine::http_request build_submit(const engine::outbound_message& message) const override;
  engine::submit_verdict parse_submit_reply(const engine::http_response& response) const override;
  std::size_t max_batch() const override { return settings_.batch; }
  engine::http_request build_submit_batch(
      std::span<const engine::outbound_message> messages) const override;
  std::vector<engine::submit_verdict> parse_submit_batch_reply(
      const engine::http_response& response, std::size_t count) const override;
  engine::webhook_result parse_webhook(engine::webhook_kind kind,
                                       const engine::webhook_request& request) const override;

  const settings& config() const { return settings_; }

 private:
  // Adds the auth: hmac headers, if configured.
  void sign(engine::http_request& request, std::optional<engine::time_point> now) const;

  settings settings_;
};

// The keys read_webhook_settings understands, and the reader itself (generic_http_webhook.cpp):
// problems are recorded on `r`.
const std::vector<std::string>& webhook_keys();
void read_webhook_settings(settings_reader& r, webhook_settings& out);

// The webhook scheme generic-http and the simulator share (see generic_http_webhook.cpp):
// check_signature refuses (403, security) a request whose X-Signature/X-Timestamp do not match
// w.secret or lie outside the replay window, nullopt when authentic; parse_json_payload maps
// the JSON body onto events (400 when malformed); parse_json_webhook does both (the check only
// when `verify_signature`).
std::optional<engine::webhook_refused> check_signature(const webhook_settings& w,
                                                       const engine::webhook_request& request);
engine::webhook_result parse_json_payload(const webhook_settings& w, engine::webhook_kind kind,
                                          const engine::webhook_request& request);
engine::webhook_result parse_json_webhook(const webhook_settings& w, engine::webhook_kind kind,
                                          const engine::webhook_request& request,
                                          bool verify_signature);

// parse_settings + codec. Throws config::config_error.
std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg);

}  // namespace pigeon::providers::generic_http
