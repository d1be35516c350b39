#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"
#include "providers/webhook_util.hpp"

namespace pigeon::providers::twilio {

// Twilio Programmable Messaging (REST API 2010-04-01). See the comment block in twilio.cpp for
// the request, the reply mapping and the webhook checks.

// The provider's validated settings.
struct settings {
  std::string base_url = "https://api.twilio.com";  // no trailing slash
  std::string account_sid;                          // AC + 32 hex
  std::string auth_token;                           // Basic auth password and webhook HMAC key
  std::string from;                                 // From, or empty
  std::string messaging_service_sid;                // MG + 32 hex, or empty
  std::chrono::milliseconds timeout{10000};
};

// Reads and checks `cfg.settings` (keys: base_url, account_sid, auth_token, from,
// messaging_service_sid, timeout). Throws config::config_error listing every problem at its
// key's file:line:col (unknown key, missing sid or token, neither from nor
// messaging_service_sid, a sid not in Twilio's format, a base_url that is not http(s)).
settings parse_settings(const config::provider_config& cfg);

// Twilio's most media per message.
inline constexpr std::size_t max_media = 10;

// The X-Twilio-Signature of a request: base64(HMAC-SHA1(auth_token, url + sorted params)).
// Params are sorted by key (byte order); a key given several times contributes each distinct
// value, sorted, as key+value.
std::string compute_signature(std::string_view auth_token, std::string_view url,
                              const form_params& params);

// Whether `signature` is valid for the request, trying the URL as received, with and without
// the scheme's default port (:443/:80), and with its query re-encoded the ways Twilio's
// libraries do (legacy Node querystring, WHATWG), comparing in constant time. With a
// `bodySHA256` query parameter (JSON webhooks) the params must be empty and SHA-256 hex of
// `body` must equal it.
bool validate_signature(std::string_view auth_token, std::string_view signature,
                        std::string_view url, const form_params& params,
                        std::optional<std::string_view> body = std::nullopt);

// The codec. Immutable after construction; methods are const and thread-safe.
class codec final : public engine::carrier_codec {
 public:
  explicit codec(settings s);

  std::string_view kind() const override { return "twilio"; }
  engine::http_request build_submit(const engine::outbound_message& message) const override;
  engine::submit_verdict parse_submit_reply(const engine::http_response& response) const override;
  std::optional<engine::rejected> refuse(const engine::outbound_message& message) const override;
  engine::webhook_result parse_webhook(engine::webhook_kind kind,
                                       const engine::webhook_request& request) const override;

  const settings& config() const { return settings_; }

 private:
  settings settings_;
  std::string url_;            // the Messages.json endpoint
  std::string authorization_;  // "Basic ..."
};

// parse_settings + codec. Throws config::config_error.
std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg);

}  // namespace pigeon::providers::twilio
