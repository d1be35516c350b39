#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/carrier.hpp"

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

  const settings& config() const { return settings_; }

 private:
  settings settings_;
};

// parse_settings + codec. Throws config::config_error.
std::unique_ptr<engine::carrier_codec> make(const config::provider_config& cfg);

}  // namespace pigeon::providers::generic_http
