#pragma once
// Sizes and types MMS media behind http(s) URLs for the apply-time length budget: a HEAD
// request (Content-Length, Content-Type), falling back to a ranged GET (bytes=0-0, size from
// Content-Range) when HEAD gives no length or is refused.
//
// Threading: synchronous, one libcurl easy handle per call, blocking up to `timeout` per
// request; meant for the CLI thread at apply/validate/preview time, never the event loop.
// Failure: never throws; an unreachable URL or an HTTP error is media_info{ok=false, error}.
#include <chrono>
#include <string>

#include "engine/campaign/length_budget.hpp"

namespace pigeon::engine::net {

campaign::media_info probe_media_url(const std::string& url,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A media_probe for check_budget / apply_campaign.
campaign::media_probe make_url_media_probe(
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace pigeon::engine::net
