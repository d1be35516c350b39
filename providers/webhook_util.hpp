#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pigeon::providers {

// Helpers shared by the codecs' webhook parsers: form decoding and the cryptography of
// signatures (OpenSSL). Pure functions, safe from any thread.

using form_params = std::vector<std::pair<std::string, std::string>>;

// Decodes an application/x-www-form-urlencoded body or a URL query ("a=1&b=x+y%21"): '+' is a
// space, %XX a byte. A key without '=' has an empty value; empty pieces ("a=1&&b=2") are
// skipped. nullopt when a percent-escape is malformed.
std::optional<form_params> parse_form(std::string_view encoded);

// The first value of `key`, or nullptr.
const std::string* find_param(const form_params& params, std::string_view key);

// Percent-encodes for a form or query value: unreserved characters (RFC 3986) as they are,
// space as '+' when `space_as_plus`, everything else %XX (UTF-8 bytes, upper-case hex).
std::string form_encode(std::string_view value, bool space_as_plus = true);

// Raw HMAC digests (bytes) and SHA-256.
std::string hmac_sha1(std::string_view key, std::string_view message);
std::string hmac_sha256(std::string_view key, std::string_view message);
std::string sha256(std::string_view message);

std::string base64_encode(std::string_view bytes);
std::string hex_encode(std::string_view bytes);  // lower-case

// Compares in time independent of where the inputs differ (CRYPTO_memcmp); different lengths
// are unequal (the length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

// The lower-cased header from a webhook_request's header map, or empty.
template <typename Map>
std::string_view header_of(const Map& headers, std::string_view lower_name) {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string_view{} : std::string_view(it->second);
}

// Content-Type without parameters, lower-cased ("application/json; charset=utf-8" ->
// "application/json").
std::string media_type(std::string_view content_type);

}  // namespace pigeon::providers
