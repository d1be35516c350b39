#pragma once

// What a store aggregates for a campaign report (store::report_facts): counts only, by step and
// variant, by UTC day and by UTC hour. engine/report/report.hpp turns them into rates, intervals, a
// timeline and renderings; the store does no arithmetic beyond counting.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/model/model.hpp"

namespace pigeon::engine {

// What report_facts counts as a conversion, and how long after a send a reply, an opt-out or a
// conversion is credited to it (the campaign's replies.valid_for).
struct report_query {
  std::string campaign;
  std::chrono::milliseconds window{std::chrono::hours(24 * 7)};
  std::vector<std::string> goal_events;    // event names (ab_test / stop_on "event:NAME")
  std::vector<std::string> goal_keywords;  // reply keywords, upper case ("reply:K")
};

// The counts of one step × variant (or of one day of it). Campaign messages only: direct
// messages (keyword responses, confirmations) are not part of the funnel.
struct report_counts {
  std::int64_t queued = 0;  // messages of the campaign (every state)
  std::int64_t sent = 0;    // accepted by a carrier (sent_at set)
  std::int64_t delivered = 0;
  std::int64_t undelivered = 0;
  std::int64_t failed = 0;
  std::int64_t expired = 0;
  std::int64_t suppressed = 0;
  std::int64_t pending = 0;    // not final yet (scheduled, deferred, retry, in flight, submitted)
  std::int64_t replied = 0;    // recipients with a reply attributed to this message
  std::int64_t opted_out = 0;  // recipients opted out within the window after this send
  std::int64_t converted = 0;  // recipients with a goal event/keyword within the window
  std::int64_t segments = 0;   // segments of the messages sent
  std::map<std::string, std::int64_t> suppressed_by_reason;
  std::map<std::string, std::int64_t> replied_by_keyword;  // recipients per keyword
  // Recipients per goal ("event:NAME", "reply:K" with K upper case): the A/B test's metric.
  std::map<std::string, std::int64_t> converted_by_goal;
};

// Sends, deliveries and replies in one UTC hour.
struct report_hour {
  std::int64_t sent = 0;
  std::int64_t delivered = 0;
  std::int64_t replied = 0;
};

// A carrier error code (from a delivery receipt, else from the submit's rejection) and how many
// of the campaign's failed or undelivered messages ended with it.
struct report_error {
  std::string provider;
  std::string code;
  std::string text;  // one example of the carrier's words
  std::int64_t count = 0;
};

struct report_step_key {
  std::string step;
  std::string variant;
  auto operator<=>(const report_step_key&) const = default;
};

struct report_facts {
  std::map<report_step_key, report_counts> cells;
  // Per UTC day ("2026-11-11") and step × variant; each figure counted on the day it happened
  // (sent on the send, delivered and other final states at their final time, replies, opt-outs
  // and conversions at the reply/opt-out/event). queued and pending are not kept per day.
  std::map<std::pair<std::string, report_step_key>, report_counts> days;
  std::map<std::int64_t, report_hour> hours;  // hour start (ms since epoch, UTC) -> counts
  std::vector<std::int64_t> latencies_ms;     // submit -> delivered receipt, per delivered message
  std::map<std::string, std::int64_t> segments_by_provider;
  std::vector<report_error> errors;  // most frequent first
};

}  // namespace pigeon::engine
