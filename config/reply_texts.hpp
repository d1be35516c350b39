#pragma once
// The texts a sender sends without a campaign file in hand: keyword responses (`respond`) and the
// STOP/START/HELP confirmations. They are transactional (no opt-out hint) and go to whoever writes
// in, so they are measured when the engine config or the campaign is loaded, not when a customer
// writes in: signature + text, rendered with no contact attributes (defaults apply), smart-encoded
// when the sender says so, must fit the sender's sms_max_segments.
#include <string>
#include <string_view>

#include "config/engine_config.hpp"

namespace pigeon::config {

// Whether `text` holds Han ideographs, CJK punctuation (【】。) or full-width forms: such a
// sender's default confirmations are Chinese (the English ones would need UCS-2 and overflow).
bool has_cjk(std::string_view text);

// The defaults for a sender without its own opt_out_reply / opt_in_reply.
std::string default_opt_out_reply(std::string_view signature);
std::string default_opt_in_reply(std::string_view signature);

// What is wrong with sending `text` through `sender` ("" when it fits): a template error, a
// {{variable}} without a default (a reply may come from a number with no attributes), or a length
// over the sender's limit ("needs 2 SMS segments (UCS-2, 87 units with the signature); sender
// 'shop' allows 1").
std::string reply_text_problem(const sender_config& sender, std::string_view text);

}  // namespace pigeon::config
