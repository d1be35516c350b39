#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pigeon::engine {

// All engine times are UTC instants with millisecond precision.
using time_point = std::chrono::sys_time<std::chrono::milliseconds>;

// ISO 8601 UTC ("2026-11-11T02:30:00.000Z") and back; parse accepts "Z" or "+hh:mm" offsets
// and a bare date (midnight UTC). Returns nullopt on malformed text.
std::string format_iso(time_point t);
std::optional<time_point> parse_iso(std::string_view text);

// The message lifecycle (contract: the names are what users see).
enum class message_state {
  scheduled,
  leased,
  submitting,
  submitted,
  delivered,
  undelivered,
  failed,
  deferred,
  suppressed,
  expired,
  retry,
};

std::string_view to_string(message_state s);
std::optional<message_state> parse_state(std::string_view text);
// delivered, undelivered, failed, suppressed and expired never change again.
bool is_final(message_state s);
inline constexpr message_state all_states[] = {
    message_state::scheduled, message_state::leased,    message_state::submitting,
    message_state::submitted, message_state::delivered, message_state::undelivered,
    message_state::failed,    message_state::deferred,  message_state::suppressed,
    message_state::expired,   message_state::retry};

struct contact {
  std::int64_t id = 0;
  std::string phone;  // E.164
  std::vector<std::string> tags;
  boost::json::object attributes;  // typed: strings, numbers, booleans; *_at as ISO text
  std::string tz;                  // IANA name or empty
};

// A frequency cap: at most `max` marketing messages to one recipient in any sliding window of
// `per`. `label` names the rule in reasons ("active 2 per 7d"). Evaluated by the store at
// mark_submitting against the send ledger (see engine/caps.hpp for what counts).
struct cap_rule {
  std::string label;
  int max = 0;
  std::chrono::milliseconds per{0};
};

// A campaign as stored: one row per version, the source kept for `campaign show`.
struct campaign_template {
  std::string step;
  std::string variant;
  int weight = 100;
  std::string kind;  // sms | mms
  std::string text;
  std::string subject;
  std::vector<std::string> media;
  // The send window in the recipient's local time (the step's, else the campaign's).
  bool has_window = false;
  std::vector<std::string> window_days;  // mon..sun; empty = every day
  std::string window_between;            // "HH:MM-HH:MM"; empty = all day
};

struct stored_campaign {
  std::string name;
  int version = 0;  // assigned by the store
  std::string content_hash;
  std::string sender;
  std::string category;  // marketing | transactional
  int priority = 0;
  std::string state = "active";  // active | paused | cancelled
  std::string source_path;
  std::string source_text;
  std::vector<campaign_template> templates;
  time_point applied_at{};
  // Policy (YAML `caps`, `on_cap`, `stop_on`): a cap on this campaign's messages per recipient
  // (max 0 = none), what a capped message does (defer | drop), and the triggers that cancel a
  // recipient's later steps (opt_out, reply:K, event:NAME).
  cap_rule cap{};
  std::string on_cap = "defer";
  std::vector<std::string> stop_on{};
};

// A message to enqueue. The unique key (campaign, step, contact) makes enqueue idempotent.
struct new_message {
  std::string campaign;
  std::string step;
  std::string variant;
  std::int64_t contact_id = 0;
  time_point due{};
  std::optional<time_point> expires;
  // Non-empty: stored already `suppressed` with this reason (an A/B holdout recipient), so the
  // campaign's statistics count them without anything being sent.
  std::string suppressed_reason{};
};

// What the dispatcher gets back from a claim: the message joined with what it needs to render
// and route it.
struct claimed_message {
  std::int64_t id = 0;
  std::string campaign;
  int campaign_version = 0;
  std::string step;
  std::string variant;
  std::string sender;
  std::string category;
  int attempts = 0;  // submissions made before this claim
  time_point due{};
  std::optional<time_point> expires;
  bool template_found = false;  // false when the current version no longer has this step/variant
  campaign_template tmpl;
  contact recipient;
};

// Intent recorded (durably) before a request leaves for a carrier.
struct submit_intent {
  std::int64_t message_id = 0;
  std::string provider;
  std::string body;  // the rendered text
  int segments = 1;
  time_point at{};
  // The engine's frequency rules that apply to this recipient now (tier and calendar rules,
  // computed by cap_policy); the store adds the campaign's own cap and the recipient's
  // preference, and counts them all against the ledger atomically with the mark.
  std::vector<cap_rule> caps{};
};

// The result of an attempt or of a policy decision, applied by record_outcomes.
struct send_outcome {
  std::int64_t message_id = 0;
  message_state state =
      message_state::failed;  // submitted | failed | retry | suppressed | expired | deferred
  std::string provider;
  std::string carrier_id;
  std::string reason;                  // error code and text, or why deferred/suppressed
  std::optional<time_point> next_due;  // for retry and deferred
  time_point at{};
};

// A/B statistics of one variant of a campaign (`campaign show`): recipients are grouped by the
// variant of their messages in the steps that have several variants ("holdout" for held-out
// recipients). Replies (matched to the campaign or to none) and events count distinct
// recipients, at or after the recipient's first send (for the holdout: the campaign's first).
struct variant_stats {
  std::string variant;
  std::int64_t recipients = 0;
  std::int64_t sent = 0;  // submitted, delivered or undelivered
  std::int64_t delivered = 0;
  std::map<std::string, std::int64_t> replies;  // keyword (upper case) -> recipients
  std::map<std::string, std::int64_t> events;   // event name -> recipients
};

// A row of the message log (`pigeon messages`).
struct message_row {
  std::int64_t id = 0;
  std::string phone;
  std::string campaign;
  std::string step;
  std::string variant;
  message_state state = message_state::scheduled;
  time_point due{};
  std::optional<time_point> sent_at;
  std::string provider;
  std::string carrier_id;
  std::string reason;
  std::string body;
  int attempts = 0;
};

struct message_filter {
  std::string campaign;                // empty = all
  std::optional<message_state> state;  // nullopt = all
  std::size_t limit = 0;               // 0 = no limit
  bool active_campaigns_only = false;  // skip paused and cancelled campaigns
};

struct campaign_counts {
  std::string name;
  int version = 0;
  std::string state;
  std::map<std::string, std::int64_t> by_state;  // state name -> count
};

struct status_snapshot {
  std::map<std::string, std::int64_t> by_state;  // every state name, zero included
  std::vector<campaign_counts> campaigns;
  std::optional<time_point> oldest_due;  // of messages due and not yet claimed
  std::optional<time_point> engine_heartbeat;
  std::optional<time_point> engine_stopped_at;  // set when the last engine stopped cleanly
  std::string engine_owner;
  std::int64_t possible_duplicates = 0;  // resends after an unknown outcome
  std::int64_t contacts = 0;
};

}  // namespace pigeon::engine
