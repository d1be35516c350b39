#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"

namespace pigeon::providers {

// What `main`/`serve` knows at wiring time and a codec may need besides its own config.
struct codec_context {
  // Base URL of the simulator `pigeon serve` embedded, for `simulator` providers without `url`.
  std::string simulator_url;
  // The secret that embedded simulator signs its callbacks with.
  std::string simulator_secret;
  // The public base URL carriers call back ("{public_url}/webhooks/{provider}/status" is where
  // delivery reports go). Unused so far: the dispatcher passes each message its own
  // status_callback_url.
  std::string status_callback_base;
};

// Makes the codec for one configured provider, by `cfg.kind`. The name -> factory map is built
// inside the call (no static registration). Throws config::config_error, located in the config
// file, when the provider's settings are wrong or its kind is not available in this build.
// The caller owns the result; it is immutable and usable from any thread.
std::unique_ptr<engine::carrier_codec> make_codec(const config::provider_config& cfg,
                                                  const codec_context& ctx);

// The kinds make_codec can make, sorted: {"generic-http", "kannel", "simulator", "twilio"}.
std::vector<std::string> available_kinds();

// Settings that are valid but make a provider silently lose something (a kannel provider without
// webhook_token never gets a delivery receipt): one sentence each, naming the provider and what
// to set. `serve` logs them at start and `status` shows them as warnings.
std::vector<std::string> config_warnings(const config::engine_config& cfg);

// Whether `cfg` may be sent to during a rehearsal (`serve --clock sim:`): kind simulator, or a
// codec whose requests go to a loopback host (127.0.0.0/8, ::1, localhost). Otherwise returns
// the URL it would send to (scheme, host, port and path only: never a credential in a query),
// for the refusal to name. Throws as make_codec does.
std::optional<std::string> off_loopback_url(const config::provider_config& cfg);

}  // namespace pigeon::providers
