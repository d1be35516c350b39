#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "engine/campaign/audience.hpp"
#include "engine/campaign/length_budget.hpp"
#include "engine/model/model.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::campaign {

// Turns a campaign file into stored versions and queued messages ("materialize steps").
// Pure planning functions plus apply_campaign, which writes through a store. Called from the
// CLI thread; the store is used synchronously.

// Steps that are already over at `now` in every time zone (their validity, the end of the local
// day they were due, has passed everywhere): applying would only expire them. Each issue names
// the step's `at` (file:line:col). `now` steps never are.
std::vector<config::config_issue> past_step_issues(const config::campaign_config& campaign,
                                                   time_point now);

// Everything about a campaign that needs the engine config or the template compiler: the sender
// exists, every template compiles, the audience can be evaluated. Each issue carries the YAML
// file:line:col.
std::vector<config::config_issue> validate_campaign(const config::campaign_config& campaign,
                                                    const config::engine_config& engine);

// The stored form of a campaign (templates of every step and variant, content hash).
stored_campaign to_stored(const config::campaign_config& campaign);

// When a step is due for a recipient in time zone `tz` ("-7d 10:30" from the anchor, at that
// local time; an absolute time; or `now`). Nullopt when the `at` text cannot be read.
std::optional<time_point> step_due(const config::step_config& step, const std::string& anchor,
                                   const std::string& tz, time_point now);

// The end of the local day containing `t` in `tz`: a step's default validity, so a morning
// promo never goes out in the evening of another day.
time_point end_of_local_day(time_point t, const std::string& tz);

// When a follow-up step (named by a keyword's follow_up) is due for a reply at `reply` from a
// recipient in `tz`: "now"/"0d" at the reply; "+2h", "+30m", "+1d" that long after it; "+1d 10:00"
// at 10:00 local time N days after the reply's local date (never before the reply: "0d 10:00"
// replied at 14:00 is due at once). Nullopt for a negative offset or an absolute time.
std::optional<time_point> follow_up_due(const std::string& at, time_point reply,
                                        const std::string& tz);

// The campaign's audience, compiled once: all/any/none tags, then every `where` expression
// (AND-ed), which may use the engine's tiers (`tier = active`). Immutable; matches() is
// thread-safe. The constructor throws config_error with file:line:col for bad expressions.
class audience_filter {
 public:
  audience_filter(const config::audience_config& audience, const config::engine_config& engine);
  // `now` is the instant `<name>_days` attributes are measured from.
  bool matches(const contact& c, time_point now) const;
  // When matches() may next change with time alone (audience_expr::next_change), or nullopt.
  std::optional<time_point> next_change(const contact& c, time_point now) const;

 private:
  std::vector<std::string> all_tags_, any_tags_, none_tags_;
  std::vector<audience_expr> where_;
};

// The issues audience_filter would throw, for validation that reports everything at once.
std::vector<config::config_issue> audience_issues(const config::audience_config& audience,
                                                  const config::engine_config& engine);

// Deterministic weighted variant choice for (campaign, phone): stable across re-apply and runs.
std::string choose_variant(const config::step_config& step, const std::string& campaign,
                           const std::string& phone);

// Whether (campaign, phone) falls in the campaign's holdout (`holdout` percent): deterministic,
// independent of the variant choice, stable across re-apply.
bool in_holdout(int holdout_percent, const std::string& campaign, const std::string& phone);

// Whether (campaign, phone) falls in the ab_test `sample` (percent; 100: everyone), the share
// that gets the variants before the decision: deterministic, independent of the variant choice
// and of the holdout, stable across re-apply.
bool in_ab_sample(int sample_percent, const std::string& campaign, const std::string& phone);

struct apply_summary {
  int version = 0;
  bool new_version = false;
  std::size_t recipients = 0;
  std::size_t queued = 0;           // new messages
  std::size_t already_queued = 0;   // existing (campaign, step, contact) left as they were
  std::size_t held_out = 0;         // recipients in the holdout (stored suppressed "holdout")
  std::size_t ab_held = 0;          // messages outside the ab_test sample: deferred until the
                                    // decision (reason ab_held_reason)
  std::size_t opted_out = 0;        // recipients opted out: nothing enqueued for them
  std::size_t capped_deferred = 0;  // messages stored deferred: over a cap at apply time
  std::size_t capped_dropped = 0;   // messages stored suppressed: over a cap, on_cap drop or
                                    // no slot before their validity
  // Queued messages of steps this version no longer has, suppressed with reason "step removed
  // in version N" (they could only fail at send time).
  std::size_t removed_step_messages = 0;
  bool restarted = false;  // the campaign was cancelled: this apply started it anew
  // A journey (`trigger:`): `recipients` counts the contacts indexed for it, `queued` the
  // messages of the occurrences already open, entered at apply.
  bool journey = false;
  std::size_t journey_entered = 0;
  std::size_t journey_skipped = 0;  // contacts whose trigger date does not read
  std::size_t journey_blocked = 0;
};

// Validates, then in one transaction and one pass over the contacts: checks the length budget
// of every step and variant for every recipient (check_budget), stores the campaign (a new
// version if its content changed) and enqueues one message per step per recipient,
// idempotently. Per recipient: the audience, the time zone (contact tz, else the phone number's,
// else default_timezone: recipient_timezone), the step's due time spread over
// policy.window_spread (at most half its window; `now` steps are not spread), the variant (a
// decided ab_test winner, else the weighted choice; the holdout), and a cap pre-check against
// the send ledger (a recipient already over a frequency or campaign cap when the message falls
// due gets it stored deferred until a slot frees, or suppressed per on_cap, with the reason;
// dispatch stays the authority). Opted-out contacts get nothing. Registers the campaign's
// ab_test; while it is undecided, the variant steps of recipients outside its `sample` are
// stored deferred (ab_held_reason) until the decision. A new version suppresses the waiting
// messages of steps it removed; an apply of a cancelled campaign starts it anew
// (store::restart_cancelled). Throws config_error when validation or the budget check fails
// (nothing is stored: the transaction rolls back) and store_error on storage failure. `url_probe`
// sizes http(s) MMS media (none: URLs are issues). `progress`, when set, is called per contact
// with phase "checked" (total unknown, 0), so a CLI can draw a bar.
using apply_progress =
    std::function<void(std::string_view phase, std::int64_t done, std::int64_t total)>;
apply_summary apply_campaign(const config::campaign_config& campaign,
                             const config::engine_config& engine, store& db, time_point now,
                             const media_probe& url_probe = {},
                             const apply_progress& progress = {});

}  // namespace pigeon::engine::campaign
