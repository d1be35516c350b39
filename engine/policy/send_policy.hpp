#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"

namespace pigeon::engine::policy {

// Send policy: what happens to a message about to be sent, decided from facts.
//
// decide() is the one place the rules live: the store's verdict at mark_submitting (facts read
// from the database in the same transaction as the durable intent), apply's pre-check and
// `campaign plan` (facts from their own simulation) all call it. It does no I/O, reads no clock
// and keeps no state: thread-safe, and the same facts always give the same verdict.
//
// The rules, in order:
//   1. A direct message (a response or confirmation) is transactional: it passes.
//   2. stop_on: once the campaign has sent to the recipient (first_send), a reply or event named
//      in its stop_on at or after that send suppresses the message ("stop_on reply:STOP").
//   3. Only marketing is capped: anything else passes.
//   4. Frequency caps, every rule must allow the send: the engine's rules, the campaign's own cap
//      (counting its own sends only) and the recipient's preference. A rule with max 0 suppresses.
//      A rule is full when its window (at - per, ...) holds max sends; it frees a slot when the
//      (used - max + 1)-th oldest send leaves the window. Engine rules and the preference also
//      keep a slot for each waiting higher-priority message due before at + per ("slot held for
//      a higher-priority campaign": look again a minute after the last of them is due). Of the
//      rules that block, the one freeing latest decides.
//   5. A blocked message is dropped (suppressed) under on_cap drop, expires when the slot frees
//      only at or after its validity, and is otherwise deferred until the slot frees.
//
// Who owns what: the caller decides what counts as a send and lists each message once (the
// store: a ledger attempt whose outcome is pending, unknown, submitted, delivered or
// undelivered, the latest attempt of a retried message, never the message being decided, never
// a transactional one); which replies and events match a trigger (keyword normalisation, the
// campaign they are attributed to, not the reply that queued this very follow-up step); which
// messages are waiting with a higher priority. decide() owns the windows, the order of the rules,
// the arithmetic of slots and the reasons users read.

// A counted marketing send to the recipient: the time of its (latest counted) attempt.
struct counted_send {
  time_point at{};
  bool this_campaign = false;  // the campaign of the message being decided
};

// A reply or event matching one of the campaign's stop_on triggers, e.g. "reply:STOP".
struct stop_signal {
  std::string trigger;
  time_point at{};
};

struct send_facts {
  time_point at{};  // when the message would go
  // The message and its campaign.
  bool direct = false;                // a response or confirmation (transactional)
  bool marketing = false;             // the campaign's category is marketing
  bool drop_on_cap = false;           // the campaign's on_cap is drop (else defer)
  std::optional<time_point> expires;  // the message's validity
  std::vector<std::string> stop_on;   // the campaign's triggers ("reply:STOP", "event:purchase")

  // stop_on facts (read only when stop_on is not empty). The first counted send of this campaign
  // to the recipient (of the same occurrence, in a journey), other than this message.
  std::optional<time_point> first_send;
  // Replies and events matching a trigger, in stop_on order. Needed only when first_send is set;
  // a source may list only signals at or after first_send.
  std::vector<stop_signal> stop_signals;

  // Frequency rules (read only for marketing). Labels name the rule in reasons.
  std::vector<cap_rule> engine_rules;    // the engine's tier and calendar rules that apply now
  std::optional<cap_rule> campaign_cap;  // the campaign's `caps`: its own sends only
  std::optional<cap_rule> preference;    // the recipient's choice ("3 per 7d")

  // Cap facts, within reach() of `at`. The recipient's counted marketing sends of every campaign
  // (see above), in any order; a send later than `at` (another lane's, committed a moment
  // earlier) counts as well, so a simulation lists only the sends made by `at`.
  std::vector<counted_send> sends;
  // Due times of the recipient's waiting marketing messages (scheduled, retry, deferred or
  // leased, campaign active) whose campaign has a higher priority than this one's.
  std::vector<time_point> waiting_higher;
};

// How far from `at` the cap facts must reach for the rules in `facts`: sends after
// at - sends, waiting messages due before at + waiting. Zero: that fact is not read.
struct reach {
  std::chrono::milliseconds sends{0};
  std::chrono::milliseconds waiting{0};
};
reach cap_reach(const send_facts& facts);

enum class decision { pass, suppressed, deferred, expired };

struct verdict {
  decision what = decision::pass;
  // The rule that decided: "stop_on reply:STOP", "frequency cap: active 2 per 7d",
  // "frequency cap: preference 1 per 1d (slot held for a higher-priority campaign)".
  std::string rule;
  // What the message records: the rule, and for an expiry "; a slot frees only after its
  // validity (2026-11-11T23:59:59Z)" after it.
  std::string reason;
  time_point until{};  // deferred: when to look again; expired: when the slot would free
};

verdict decide(const send_facts& facts);

}  // namespace pigeon::engine::policy
