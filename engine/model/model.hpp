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
// `per`. `label` names the rule in reasons ("active 2 per 7d"). Decided by policy::decide
// (engine/policy/send_policy.hpp) from the facts the store reads at mark_submitting, in the
// transaction of the intent (see engine/policy/caps.hpp for what counts).
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

// A campaign's `replies:` section (see engine/inbound/replies.hpp for how replies are matched).
struct reply_keyword {
  std::string keyword;          // as written in the campaign file
  std::string normalized;       // normalize_reply(keyword): what a reply is compared with
  std::string tag;              // added to the contact
  std::string respond;          // a transactional reply through the campaign's sender
  std::string action;           // "" | frequency | nps | follow_up
  std::string step;             // follow_up: the campaign step to enqueue for this contact
  std::string step_at;          // follow_up: the step's `at`, counted from the reply
  std::string step_variant;     // follow_up: the step's first variant
  int max = 0;                  // frequency: at most `max` messages ...
  std::chrono::seconds per{0};  // ... per this period (both 0: nothing stored)
};
struct reply_config {
  std::chrono::milliseconds valid_for{std::chrono::hours(24 * 7)};
  std::vector<reply_keyword> keywords;
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
  std::optional<reply_config> replies;  // stored with the version (campaign_replies)
  time_point applied_at{};
  // Policy (YAML `caps`, `on_cap`, `stop_on`): a cap on this campaign's messages per recipient
  // (max 0 = none), what a capped message does (defer | drop), and the triggers that cancel a
  // recipient's later steps (opt_out, reply:K, event:NAME).
  cap_rule cap{};
  std::string on_cap = "defer";
  std::vector<std::string> stop_on{};
};

// A message to enqueue. The unique key (campaign, step, contact, occurrence) makes enqueue
// idempotent.
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
  // A journey's occurrence (its anchor: "2027-03-14", "event:42", "enters:2026-12-07"); part of
  // the unique key, so each occurrence sends each step once. '' for broadcasts.
  std::string occurrence{};
  // JSON object the templates read besides the contact ({"anchor": ..., "event": {...}}), or ''.
  std::string context{};
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
  std::string occurrence;       // see new_message
  boost::json::object context;  // see new_message; empty for broadcasts
};

// Intent recorded (durably) before a request leaves for a carrier.
struct submit_intent {
  std::int64_t message_id = 0;
  std::string provider;
  std::string body;  // the rendered text
  int segments = 1;
  time_point at{};
  // The engine's frequency rules that apply to this recipient now (tier and calendar rules,
  // computed by cap_policy); with the campaign's own cap and the recipient's preference,
  // policy::decide counts them against the ledger facts the store reads in the mark's
  // transaction.
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
  // A carrier refused because the recipient opted out with it (e.g. Twilio 21610): the contact
  // is recorded as opted out too and their queued messages are suppressed.
  bool recipient_opted_out = false;
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

// A campaign's `ab_test: {metric, decide_after, then: winner, min_per_variant, sample}` and, once
// taken, its decision. The clock starts at the first send of a step with variants; from
// first_send + decide_after, once every variant was sent to min_per_variant recipients, the
// engine compares the variants on `metric` (engine/campaign/ab_decision.hpp) and, when the leader
// is significantly better, moves every message not yet attempted to the winning variant. Until then
// the test is undecided and re-checked (next_check); messages held back by `sample` wait.
struct ab_decision {
  std::string campaign;
  std::string metric;  // delivered, reply:K or event:NAME
  std::chrono::milliseconds decide_after{0};
  std::optional<time_point> first_send;  // set once a step with variants has sent
  std::optional<time_point> decided_at;  // nullopt: not decided yet
  std::string winner;                    // empty: decided, but no significant winner
  std::string runner_up;
  std::optional<double> p_value;  // leader vs runner-up, two-proportion z-test
  std::string reason;         // for people: the rates, the test and what it did (or why not yet)
  std::int64_t switched = 0;  // messages moved to the winner
  std::int64_t min_per_variant = 100;    // sends each variant needs before a decision
  int sample_percent = 100;              // share that gets the variants first (100: everyone)
  std::optional<time_point> next_check;  // undecided: when the engine looks again
  std::int64_t held = 0;                 // messages held back by `sample`, waiting (read only)
};

// The reason of a message held back by `ab_test.sample` (state `deferred`, due at the test's
// next check, never attempted): the mark by which the store finds and releases them.
inline constexpr const char* ab_held_reason = "ab sample: waiting for the decision";

// A message apply would enqueue for a recipient already over a frequency cap at apply time:
// stored `deferred` until `due` (when a slot frees) with `reason`.
struct apply_deferral {
  std::string step;
  std::int64_t contact_id = 0;
  time_point due{};
  std::string reason;
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
  std::string phone{};                 // E.164 of one recipient; empty = all
};

struct campaign_counts {
  std::string name;
  int version = 0;
  std::string state;
  std::map<std::string, std::int64_t> by_state;  // state name -> count
};

// One engine (a `pigeon serve` node) as its heartbeat row shows it.
struct engine_node {
  std::string name;  // the owner it beats as ("pid-1234", or the node's name)
  std::int64_t pid = 0;
  time_point heartbeat{};                // its latest beat; the age is `now` minus this
  std::optional<time_point> stopped_at;  // set when it stopped cleanly (cleared by a new beat)
  std::string detail;  // the JSON it stores with its beats (lanes...: live_lanes()), or empty
};

struct status_snapshot {
  std::map<std::string, std::int64_t> by_state;  // every state name, zero included
  std::vector<campaign_counts> campaigns;
  std::optional<time_point> oldest_due;  // of messages due and not yet claimed
  // The engine the fields below describe: the running node with the latest beat, else the
  // node that beat last (SQLite: its one engine).
  std::optional<time_point> engine_heartbeat;
  std::optional<time_point> engine_stopped_at;  // set when that engine stopped cleanly
  std::string engine_owner;
  // Every engine that shares the database, by name (byte order): SQLite lists its one engine
  // (the latest to beat), PostgreSQL every node that ever registered, stopped ones included.
  std::vector<engine_node> nodes;
  std::int64_t possible_duplicates = 0;  // resends after an unknown outcome
  std::int64_t contacts = 0;
};

// --- webhooks, replies and integrator events ----------------------------------------------------

// A delivery receipt as the store records it (engine/model/carrier.hpp delivery_event + provider).
struct receipt {
  std::string provider;
  std::string carrier_id;
  std::int64_t message_id = 0;                     // pigeon's id when the carrier echoed it, else 0
  message_state state = message_state::submitted;  // submitted | delivered | undelivered | failed
  std::string status;                              // the carrier's own word
  std::string error_code;
  std::string error_text;
  time_point at{};  // the carrier's time (received_at when unknown)
  time_point received_at{};
};

// What a receipt did to its message.
enum class receipt_effect {
  applied,          // moved the message forward (or filled in its carrier id)
  reconciled,       // the message's outcome was unknown (submitting, or a possible duplicate
                    // waiting for resend): it is now submitted/final and will not be resent
  stale,            // late or out of order: the message is already further (kept for ops)
  duplicate,        // the same (provider, carrier id, status) was recorded before
  unknown_message,  // no message matches (kept for ops)
};
std::string_view to_string(receipt_effect e);

// The campaign a reply is attributed to: the one whose message was most recently sent to the
// number within that campaign's replies.valid_for.
struct reply_attribution {
  std::int64_t message_id = 0;
  std::string campaign;
  int version = 0;
  std::string sender;
  time_point sent_at{};
  reply_config replies;
  // The journey occurrence of the message replied to ('' for a broadcast) and its template
  // context: a follow-up step the reply queues belongs to that occurrence (next year's reply
  // queues it again) and reads the same anchor/event.
  std::string occurrence;
  std::string context;
};

// A stored inbound message (`pigeon replies`).
struct reply_row {
  std::int64_t id = 0;
  std::string provider;
  std::string carrier_id;
  std::string phone;
  std::int64_t contact_id = 0;
  std::string to;
  std::string text;
  std::string normalized;
  std::string campaign;  // '' when not attributed
  std::int64_t message_id = 0;
  std::string keyword;  // '' when unmatched
  std::string action;   // what it triggered, e.g. "opt_out", "tag+respond"
  std::optional<int> nps_score;
  time_point at{};
};

struct reply_filter {
  std::string campaign;             // empty = all
  std::optional<time_point> since;  // inclusive
  std::size_t limit = 0;            // 0 = no limit
  std::int64_t contact_id = 0;      // 0 = all
};

// An integrator event (POST /v1/events), e.g. "purchase".
struct contact_event {
  std::int64_t id = 0;
  std::string name;
  std::int64_t contact_id = 0;
  boost::json::object properties;
  time_point at{};
  time_point received_at{};
};

// --- lifecycle journeys (engine/campaign/journeys.hpp)
// ---------------------------------------------------

// A contact's place in a journey's daily rollover: their zone and, for a date trigger, the
// trigger date in that zone (month 0 and an empty date when the journey has none).
struct journey_date {
  std::int64_t contact_id = 0;
  std::string zone;
  int month = 0;
  int day = 0;
  std::string date;  // YYYY-MM-DD
  // `enters` journeys: when the contact's condition may next change with time alone (a
  // `_days` threshold reached), so the rollover reads only those due; nullopt: never by time.
  std::optional<time_point> next_check{};
};

// One occurrence of a journey for one contact, and the messages it queues (each carrying the
// occurrence): what journey_store::enter_journeys stores.
struct journey_entry {
  std::int64_t contact_id = 0;
  std::string occurrence;  // the anchor: a local date, "event:<id>", "enters:<date>"
  std::vector<new_message> messages;
};

// Which contacts of a journey a rollover reads: those in `zone` whose trigger date falls on
// `month` (0: any month) and one of `days` (empty: every contact of the zone), or whose date is
// `date` (when set: `every: once`), or whose next_check is due by `due_by` (`enters`).
struct journey_query {
  std::string campaign;
  std::string zone;
  int month = 0;
  std::vector<int> days;
  std::string date;
  std::optional<time_point> due_by{};  // when set: only contacts whose next_check <= due_by
};

// What `campaign show`, `status` and `plan` say about a journey.
struct journey_stats {
  std::int64_t entries_today = 0;  // since the start of the UTC day of `now`
  std::int64_t entries_7d = 0;
  std::int64_t entries_total = 0;
  std::int64_t indexed = 0;                                  // contacts in journey_dates
  std::map<std::string, std::int64_t> in_progress;           // step -> messages still to go
  std::map<std::string, std::int64_t> exits;                 // reason -> recipients
  std::vector<std::pair<std::string, std::string>> skipped;  // (masked phone, reason), a few
  std::map<std::string, std::int64_t> entries_by_day;        // UTC day (YYYY-MM-DD) -> entries
  std::map<std::string, std::int64_t> exits_by_day;          // UTC day -> recipients who left
};

// A recipient's own frequency preference (contact_preferences).
struct contact_preference {
  int max = 0;
  std::chrono::seconds per{0};
};

}  // namespace pigeon::engine
