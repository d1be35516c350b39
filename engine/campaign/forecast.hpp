#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "engine/model/model.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::campaign {

// `pigeon campaign plan`: what applying a campaign now would send, per day and provider, without
// writing anything. For every stored contact in the audience and every step it simulates what
// the dispatcher does: the step's due time in the recipient's zone (a past due time goes at
// `from`), the send window and (marketing) quiet hours, the validity (end of the local day the
// step was due), and frequency caps (the engine's tier and calendar rules and the campaign's own
// cap) against the current send ledger plus the sends this plan itself makes, in step order.
//
// Not simulated: other campaigns' queued messages and priorities, recipient preferences,
// stop_on (it depends on future replies), the spread over a window's first minutes, and
// carrier outcomes (every send succeeds).
//
// Days are local dates in the engine's default_timezone; the provider is the first of the
// sender's route. Threading: the caller's thread; reads `db` only.

struct plan_bucket {
  std::string date;      // YYYY-MM-DD
  std::string provider;  // "" when the sender has no route
  std::int64_t sends = 0;
  std::int64_t deferrals = 0;     // times a message was pushed later (window, quiet hours, cap)
  std::int64_t suppressions = 0;  // messages that will not go: expired, or dropped by a cap
  std::map<std::string, std::int64_t> reasons;  // "deferred: quiet hours 21:00-08:00" -> count
};

struct plan_report {
  std::string campaign;
  time_point from{};
  int days = 0;
  std::string timezone;
  std::int64_t recipients = 0;
  std::int64_t opted_out = 0;        // recipients in the audience who opted out: nothing is planned
  std::vector<plan_bucket> buckets;  // by date then provider; only days inside the horizon
  std::int64_t sends = 0, deferrals = 0, suppressions = 0;  // totals inside the horizon
  std::int64_t after_horizon = 0;  // messages whose send or suppression falls later
  int ab_sample_percent = 100;     // ab_test.sample while its test is undecided, else 100
  std::int64_t ab_held = 0;        // messages outside the sample: deferred until the decision
};

// Throws config_error for an invalid campaign (as validate) and store_error on read failure.
plan_report plan_campaign(const config::campaign_config& campaign,
                          const config::engine_config& engine, store& db, time_point from,
                          int days);

}  // namespace pigeon::engine::campaign
