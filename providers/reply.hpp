#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "engine/model/http.hpp"

namespace pigeon::providers {

// Helpers shared by the HTTP codecs to read a carrier's reply. Pure functions.

// The wait a 429/503 asks for through `Retry-After` (RFC 9110 10.2.3): either delay-seconds or
// an HTTP-date. Codecs may not read the clock, so an HTTP-date is measured against the
// response's own `Date` header (the carrier's clock against itself). Missing, malformed, in
// the past, or a date without a `Date` header: 0, meaning "the lane's backoff decides".
std::chrono::milliseconds retry_after(const engine::http_response& response);

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as seconds since the epoch.
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text);

// A reply body cut down for a verdict's reason: whitespace trimmed, at most `limit` bytes
// (cut on a UTF-8 character boundary, "..." appended when cut). The message log needs a hint,
// not the carrier's whole error page.
std::string short_reason(std::string_view body, std::size_t limit = 200);

// 408 Request Timeout, 425 Too Early, 429 and every 5xx: the carrier may take it later.
bool is_transient_status(int status);

}  // namespace pigeon::providers
