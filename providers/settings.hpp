#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/engine_config.hpp"
#include "config/source_location.hpp"

namespace pigeon::providers {

// Reads one provider's `settings` against the keys its codec declares (Kannel's cfg.def:
// an undeclared key is an error, never silently ignored). Problems are collected, each at the
// location of the offending key (or of the provider when a key is missing), and thrown
// together by `throw_if_any()` as one config::config_error.
//
// Used only while a codec is being made (startup), never on the send path.
class settings_reader {
 public:
  // `kind` names the dialect in messages ("generic-http"). `keys` are exact keys; a key ending
  // in ".*" declares a prefix ("headers.*" accepts "headers.X-Api-Key"). Unknown keys are
  // recorded as issues here.
  settings_reader(const config::provider_config& cfg, std::string_view kind,
                  std::vector<std::string> keys);

  // The setting, or nullptr when absent.
  const config::setting* find(std::string_view key) const;
  // The value, or `fallback` when absent.
  std::string get(std::string_view key, std::string_view fallback = {}) const;
  // The value; records "missing key" at the provider's location when absent or empty.
  std::string required(std::string_view key);
  // The value, which must be one of `choices` (compared case-insensitively); returned as the
  // matching choice. Records an issue at the key otherwise and returns choices.front().
  std::string one_of(std::string_view key, const std::vector<std::string>& choices);
  // A positive duration such as "10s", "500ms" or "1m"; `fallback` when absent.
  std::chrono::milliseconds duration(std::string_view key, std::chrono::milliseconds fallback);
  // Every "prefix<rest>" setting as rest -> setting, in key order.
  std::vector<std::pair<std::string, config::setting>> with_prefix(std::string_view prefix) const;

  // Records a problem at `where`.
  void fail(const config::source_location& where, std::string message);
  // Records a problem at the key's location (the provider's when the key is absent).
  void fail_at(std::string_view key, std::string message);

  const config::provider_config& provider() const { return cfg_; }
  // "generic-http provider 'gateway'"
  std::string label() const;

  // Throws config::config_error with every recorded issue, if any.
  void throw_if_any() const;

 private:
  const config::provider_config& cfg_;
  std::string kind_;
  std::vector<config::config_issue> issues_;
};

// Parses "10s", "500ms", "2m" (a positive integer and a unit). Returns false on anything else.
bool parse_duration(std::string_view text, std::chrono::milliseconds& out);

// The value of an `Authorization` header for HTTP basic auth (RFC 7617):
// "Basic " + base64(username ":" password).
std::string basic_authorization(std::string_view username, std::string_view password);

}  // namespace pigeon::providers
