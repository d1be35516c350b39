#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"

namespace pigeon::providers::kannel {

// Kannel's smsbox `sendsms` HTTP interface, with delivery reports through `dlr-url` and MOs
// through an `sms-service` get-url. See the comment block in kannel.cpp.

struct settings {
  std::string url;             // e.g. http://127.0.0.1:13013/cgi-bin/sendsms
  std::string method = "GET";  // GET (CGI parameters) | POST (text body, X-Kannel-* headers)
  std::string username;
  std::string password;
  std::string from;
  std::string smsc;   // smsc-id to route through, or empty
  int dlr_mask = 31;  // 1 delivered | 2 undelivered | 4 buffered | 8 smsc submit | 16 smsc reject
  std::string webhook_token;  // the secret in callback URLs; empty = no callbacks taken or asked
  std::vector<std::string> allow_from{"127.0.0.1"};  // peers allowed to call the webhooks
  std::chrono::milliseconds timeout{10000};
};

// Reads and checks `cfg.settings` (keys: url, method, username, password, from, smsc, dlr_mask,
// webhook_token, allow_from, timeout). Throws config::config_error with every problem at its
// key's file:line:col.
settings parse_settings(const config::provider_config& cfg);

// The carrier id pigeon records for a message sent through Kannel, whose reply names none:
// "kannel-<pigeon message id>". DLRs carry the same id back through the dlr-url.
std::string carrier_id_for(std::int64_t message_id);

class codec final : public engine::carrier_codec {
 public:
  explicit codec(settings s);

  std::string_view kind() const override { return "kannel"; }
  engine::http_request build_submit(const engine::outbound_message& message) const override;
  // Kannel's reply names no message: accepted carries an empty carrier id here; use
  // parse_submit_reply_for, which derives it from the message.
  engine::submit_verdict parse_submit_reply(const engine::http_response& response) const override;
  engine::submit_verdict parse_submit_reply_for(
      const engine::outbound_message& message,
      const engine::http_response& response) const override;
  engine::webhook_result parse_webhook(engine::webhook_kind kind,
                                       const engine::webhook_request& request) const override;

  const settings& config() const { return settings_; }

 private:
  settings settings_;
};

std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg);

// Valid settings under which Kannel is never asked for delivery receipts (no dlr-url is sent):
// no webhook_token, or pigeon has no public_url. One sentence each, naming the provider and
// what to set; empty when receipts will come. dlr_mask: 0 is a choice and is not reported.
std::vector<std::string> warnings(const config::provider_config& cfg,
                                  const std::string& public_url);

}  // namespace pigeon::providers::kannel
