#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "engine/model/model.hpp"
#include "engine/policy/send_policy.hpp"
#include "engine/campaign/audience.hpp"

namespace pigeon::engine::policy {

// Frequency caps: per recipient, sliding windows over the durable send ledger.
//
// Rules come from three places: the engine's `policy.frequency` (a tier rule applies when the
// recipient is in that tier, evaluated over the contact's attributes; a calendar rule applies
// when the recipient's local date is in that calendar), the campaign's `caps` (its own messages
// only), and the recipient's preference (table contact_preferences, set by a reply "3"). Every
// rule that applies must allow the send. cap_policy computes the engine rules for a message
// in the dispatcher; the store (mark_submitting) adds the other two, reads the ledger and asks
// engine/policy/send_policy.hpp for the verdict, in the same transaction as the ledger row, so
// two lanes or campaigns racing for one recipient cannot exceed a cap. How the rules count and
// how priority breaks ties: engine/policy/send_policy.hpp; what the ledger counts:
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
    std::optional<campaign::audience_expr> tier;  // tier rules
    std::set<std::string> dates;        // calendar rules: ISO dates
    cap_rule cap;
  };
  std::vector<rule> rules_;
};

// The campaign's own `caps` and the recipient's preference as rules, labelled
// "campaign 2 per 7d" and "preference 3 per 7d" (the labels reasons show).
cap_rule campaign_cap(int max, std::chrono::milliseconds per);
cap_rule preference_cap(int max, std::chrono::milliseconds per);

// The facts of a marketing message of `campaign` simulated at `at` (apply's pre-check,
// `campaign plan`) for policy::decide: the rules, and of `sends` those made by `at`. Recipient
// preferences, waiting higher-priority messages and stop_on are not simulated.
policy::send_facts simulated_send(const config::campaign_config& campaign,
                                  const std::optional<cap_rule>& campaign_rule,
                                  std::vector<cap_rule> engine_rules,
                                  const std::vector<policy::counted_send>& sends, time_point at,
                                  time_point expires);

// Overlapping or contradictory rules in the engine's `policy.frequency`: two rules for the same
// tier or calendar with the same period (a duplicate, or a contradiction when their max
// differ), or one with a shorter period allowing at least as many as a longer one (it can never
// bind). Each issue names the rule's place (file:line:col).
std::vector<config::config_issue> frequency_issues(const config::engine_config& engine);

}  // namespace pigeon::engine::policy
