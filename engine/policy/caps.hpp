#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "engine/campaign/audience.hpp"
#include "engine/model/model.hpp"

namespace pigeon::engine {

// Frequency caps: per recipient, sliding windows over the durable send ledger.
//
// Rules come from three places: the engine's `policy.frequency` (a tier rule applies when the
// recipient is in that tier, evaluated over the contact's attributes; a calendar rule applies
// when the recipient's local date is in that calendar), the campaign's `caps` (its own messages
// only), and the recipient's preference (table contact_preferences, set by a reply "3"). Every
// rule that applies must allow the send. cap_policy computes the engine rules for a message
// in the dispatcher; the store (mark_submitting) adds the other two and does the counting, in
// the same transaction as the ledger row, so two lanes or campaigns racing for one recipient
// cannot exceed a cap. What is counted and how priority breaks ties:
// engine/store/sqlite/policy_facts.cpp and docs/ARCHITECTURE.md ("Send policy"). Transactional
// messages are exempt.

// "7d", "12h", "30m" or "45s": the largest unit that divides `per` exactly.
std::string format_period(std::chrono::milliseconds per);

class cap_policy {
 public:
  // Compiles the tiers the rules use. Throws config_error (file:line:col) for a tier that does
  // not compile; a config that load_engine_config accepted compiles.
  explicit cap_policy(const config::engine_config& engine);

  // The engine rules that apply to contact `c` (local zone `tz`) at `now`, labelled like
  // "active 2 per 7d" or "holidays 2 per 1d". Immutable after construction; thread-safe.
  std::vector<cap_rule> rules_for(const contact& c, const std::string& tz, time_point now) const;

  bool empty() const { return rules_.empty(); }

 private:
  struct rule {
    std::optional<audience_expr> tier;  // tier rules
    std::set<std::string> dates;        // calendar rules: ISO dates
    cap_rule cap;
  };
  std::vector<rule> rules_;
};

// A send already in the ledger (or planned), for cap_blocked.
struct past_send {
  time_point at;
  bool this_campaign = false;
};

struct cap_block {
  time_point next{};   // when a slot frees (time_point::max(): never, a rule with max 0)
  std::string reason;  // "frequency cap: active 2 per 7d"
};

// Whether a send at `t` would exceed a rule given `sends` (the recipient's counted sends): the
// latest instant any applicable rule frees a slot, or nullopt when every rule allows `t`.
// `campaign_rule` (max 0: none) counts only sends with this_campaign. The same counting as the
// store's verdict at dispatch, without priorities; used by apply's pre-check and by plan.
std::optional<cap_block> cap_blocked(const std::vector<cap_rule>& engine_rules,
                                     const cap_rule& campaign_rule,
                                     const std::vector<past_send>& sends, time_point t);

// Overlapping or contradictory rules in the engine's `policy.frequency`: two rules for the same
// tier or calendar with the same period (a duplicate, or a contradiction when their max
// differ), or one with a shorter period allowing at least as many as a longer one (it can never
// bind). Each issue names the rule's place (file:line:col).
std::vector<config::config_issue> frequency_issues(const config::engine_config& engine);

}  // namespace pigeon::engine
