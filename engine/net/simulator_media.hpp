#pragma once
// The carrier simulator's media fetch (engine/net/carrier_simulator.hpp, "Media"): which URLs a
// submission names, which of them it may fetch, and what it records of each. Pure functions.
#include <boost/json/object.hpp>
#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/http.hpp"
#include "engine/net/carrier_simulator.hpp"

namespace pigeon::engine::net {

// At most this many media URLs of one submission are fetched.
inline constexpr std::size_t max_simulator_media = 10;

// Decodes a form field or query value (`%XX`, `+` as a space).
std::string form_decode(std::string_view s);

// The media URLs of a submission: the "media" array of a JSON body (`fields`), else every
// "MediaUrl" field of a form body (Twilio's repeated field).
std::vector<std::string> submission_media_urls(const boost::json::object& fields,
                                               std::string_view form_body);

// An http:// URL whose host is a loopback address (127.0.0.0/8, localhost, [::1]).
bool loopback_http_url(std::string_view url);

// The record of one fetch: status, bytes, SHA-256 and content type, or the transport error.
simulator_media fetched_media(std::string url, const boost::system::error_code& ec,
                              const engine::http_response& response);

boost::json::object to_json(const simulator_media& m);

}  // namespace pigeon::engine::net
