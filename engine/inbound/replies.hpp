#pragma once

// replies: what an inbound message (MO) means and what it triggers.
//
// A reply is normalised (normalize_reply), then matched, in this order:
//   1. compliance keywords, always, whatever the campaign (engine config policy.keywords):
//      opt_out -> the contact is opted out and every queued message of theirs suppressed in the
//      same transaction, one confirmation is queued (transactional, no marketing);
//      opt_in -> the opt-out is cleared, confirmation; help -> the sender's help_text;
//   2. the keywords of the campaign the reply is attributed to: the campaign whose message was
//      most recently sent (sent_at) to that number within the campaign's replies.valid_for.
//      A keyword may tag the contact, respond (a transactional reply through the campaign's
//      sender), and take an action: frequency (stores the contact's own cap), nps (any reply
//      0-10 is a score, stored on the reply), follow_up (enqueues a step of the campaign for
//      this contact, due at the step's `at` counted from the reply: follow_up_due; the step is
//      then an ordinary marketing message, held by its window, quiet hours, caps and stop_on).
//   3. otherwise the reply is stored unmatched, for ops (`pigeon replies`).
// Responses and confirmations are direct messages (store::enqueue_direct): durable intent in
// the queue, sent by the dispatcher like any message but transactional: exempt from windows,
// quiet hours, caps, stop_on and the opt-out (DESIGN "Replies").

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::inbound {

// Trims, maps full-width ASCII (U+FF01..U+FF5E) and the ideographic space (U+3000) to ASCII,
// upper-cases ASCII letters, turns punctuation (ASCII and CJK) into spaces and collapses runs of
// spaces: " stop! " -> "STOP", "ｏｐｔ－ｏｕｔ" -> "OPT OUT", "退订。" -> "退订".
std::string normalize_reply(std::string_view text);

struct sender_replies {
  std::string help_text;
  std::string opt_out_reply;  // the opt-out confirmation
  std::string opt_in_reply;   // the re-subscription confirmation
};

// The engine-wide part of reply handling, built once from the engine config.
struct reply_policy {
  std::vector<std::string> opt_out;  // normalised keywords
  std::vector<std::string> opt_in;
  std::vector<std::string> help;
  std::map<std::string, sender_replies> senders;  // by sender name
  std::string default_region;                     // to read national-format `from` numbers
  std::string default_timezone;                   // a follow-up's local time (recipient_timezone)
};
reply_policy make_reply_policy(const config::engine_config& config);

struct inbound_outcome {
  bool duplicate = false;            // the carrier sent this MO before: nothing was done
  reply_row reply;                   // as stored, with keyword and action
  std::size_t suppressed = 0;        // messages suppressed by an opt-out
  std::vector<std::int64_t> queued;  // direct messages queued (responses, confirmations)
};

// Records one inbound message and applies what it triggers. Runs on the store's thread (inside
// an async_store job, so everything commits together with the webhook's other events). Throws
// store_error on failure (the whole job is rolled back and the carrier gets a 5xx).
inbound_outcome handle_inbound(store& s, const reply_policy& policy, const std::string& provider,
                               const inbound_event& event, time_point now);

// Normalises an international sender number ("+<country>...", where the default region plays no
// part) ahead of handle_inbound and keeps the result in a small process-wide memo that
// handle_inbound takes it from (and erases), so the costly libphonenumber parse runs on the
// caller's thread (the webhook server's) instead of the store's writer thread. Other numbers are
// left to handle_inbound. Thread-safe; the memo holds at most 4,096 numbers (it is emptied when
// full, which only costs a second parse).
void prepare_inbound_phone(const std::string& from);
// The same when the caller already has the E.164 form of `from` (no second parse).
void remember_inbound_phone(const std::string& from, std::string e164);

}  // namespace pigeon::engine::inbound
