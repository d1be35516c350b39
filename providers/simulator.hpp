#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"

namespace pigeon::providers::simulator {

// The codec for pigeon's own carrier simulator (`pigeon simulate-carrier`, or the one
// `pigeon serve` embeds when the provider has no `url`). See simulator.cpp for the wire format.

// The provider's validated settings.
struct settings {
  std::string url;  // base URL, e.g. "http://127.0.0.1:18090"; "/messages" is appended
  std::string from = "pigeon";
  std::chrono::milliseconds timeout{10000};
  // Checks the simulator's signed callbacks (its --webhook-secret-env); empty: every callback
  // is refused.
  std::string webhook_secret;
};

// Reads and checks `cfg.settings` (keys: url, from, timeout, webhook_secret). `embedded_url` is
// used when the config has no `url`: `pigeon serve` passes the address of the simulator it
// started, and `embedded_secret` the secret that simulator signs with (used when the provider
// sets no webhook_secret). A `url` without a webhook_secret, no url at all, or any other problem
// throws config::config_error (locations as in the file).
settings parse_settings(const config::provider_config& cfg, const std::string& embedded_url = {},
                        const std::string& embedded_secret = {});

// The codec. Immutable after construction; methods are const and thread-safe.
class codec final : public engine::carrier_codec {
 public:
  explicit codec(settings s);

  std::string_view kind() const override { return "simulator"; }
  engine::http_request build_submit(const engine::outbound_message& message) const override;
  engine::submit_verdict parse_submit_reply(const engine::http_response& response) const override;
  engine::webhook_result parse_webhook(engine::webhook_kind kind,
                                       const engine::webhook_request& request) const override;

  const settings& config() const { return settings_; }

 private:
  settings settings_;
};

// parse_settings + codec. Throws config::config_error.
std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg,
                                            const std::string& embedded_url = {},
                                            const std::string& embedded_secret = {});

}  // namespace pigeon::providers::simulator
