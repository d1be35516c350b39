#pragma once

// What on-call needs beyond status_snapshot: throughput, per-provider health, per-campaign
// progress, why messages wait. Read from the database by store::operations(), so `pigeon status`
// works with the engine down.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pigeon::engine {

// Webhooks a running engine refused (forged, replayed, malformed), by provider and status: kept
// in memory by the webhook handler, stored with the heartbeat while any are recent.
struct refusal_count {
  std::string provider;  // "" for requests that named no known provider
  int status = 0;        // the HTTP status answered
  std::uint64_t total = 0;
  std::uint64_t recent = 0;  // in the current and the previous 5-minute window
};

// Send attempts started within a window (by the ledger's `at`) and what became of them.
struct attempt_counts {
  std::int64_t attempts = 0;
  std::int64_t accepted = 0;   // submitted or delivered
  std::int64_t delivered = 0;  // a delivery receipt arrived
  std::int64_t failed = 0;     // failed, undelivered or rejected
  std::int64_t retried = 0;    // retry or unknown (ambiguous) outcomes
  std::int64_t pending = 0;    // no outcome yet
  // failed + retried over attempts with an outcome; 0 when none has one.
  double error_rate() const {
    auto done = attempts - pending;
    return done > 0 ? static_cast<double>(failed + retried) / static_cast<double>(done) : 0.0;
  }
};

struct provider_figures {
  std::string name;
  attempt_counts last_minute, last_hour;
  // Submit round trips over the last hour: of its latest 10,000 completed attempts.
  std::optional<double> p99_latency_ms;
};

struct variant_figures {
  std::string step, variant;
  std::int64_t total = 0, sent = 0, delivered = 0, failed = 0;
  std::int64_t replies = 0;  // when the replies table exists and has message_id
};

struct campaign_figures {
  std::string name;
  std::vector<variant_figures> variants;        // in (step, variant) order
  std::map<std::string, std::int64_t> replies;  // keyword -> count (replies table)
  std::optional<std::int64_t> opt_outs;         // contacts.opted_out_at after a send to them
};

struct ops_snapshot {
  attempt_counts last_minute, last_hour;
  std::vector<provider_figures> providers;
  std::vector<campaign_figures> campaigns;
  std::map<std::string, std::int64_t> deferred_by_reason, suppressed_by_reason;
  std::int64_t retry_backlog = 0;
  std::string lane_detail;  // JSON the running engine stored with its heartbeat, or empty
  bool replies_table = false, opt_out_column = false;  // added by the webhooks branch
};

}  // namespace pigeon::engine
