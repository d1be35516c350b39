#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/campaign.hpp"
#include "engine/model/model.hpp"
#include "engine/store/ab_store.hpp"

namespace pigeon::engine::campaign {

// A/B comparison for `campaign show`: each variant's conversion on the campaign's metric
// (`delivered`, `reply:K` or `event:NAME`, from ab_test) and a two-proportion z-test between the
// two leading variants (the holdout, if any, is shown but not one of them). Pure functions, except
// decide_ab_tests, which acts through a store.

// Two-sided p-value of the pooled two-proportion z-test for x1/n1 vs x2/n2; nullopt when a
// group is empty or the pooled rate is 0 or 1 (no variance: nothing to test).
std::optional<double> two_proportion_p_value(std::int64_t x1, std::int64_t n1, std::int64_t x2,
                                             std::int64_t n2);

struct ab_comparison {
  std::string metric;
  std::vector<std::pair<std::string, std::int64_t>> conversions;  // variant -> recipients
  std::string leader, runner_up;  // empty when fewer than two variants
  std::optional<double> p_value;  // leader vs runner-up
  bool significant = false;       // p < 0.05
};

// Conversions of each variant on `metric` (recipients with that reply keyword or event) over
// its `sent` (the holdout over its recipients), the leader by rate, and the test.
ab_comparison compare_variants(const std::vector<variant_stats>& stats, const std::string& metric);

// How long an undecided test waits before it is looked at again (min_per_variant not reached).
inline constexpr std::chrono::hours ab_recheck_interval{1};

// One check of a test at `now` from the variants' statistics. Not decided (decided_at unset,
// next_check set, the reason says why) before first send of the A/B step + decide_after, nor
// while a variant has fewer than min_per_variant sends: nothing is final, the split goes on.
// Then the leader wins when it is significantly better than the runner-up (p < 0.05);
// otherwise it is decided without a winner (the split goes on). Deterministic for given input.
ab_decision decide_ab_test(const ab_decision& test, const std::vector<variant_stats>& stats,
                           time_point now);

// `ab_test: {then: winner}` at work: checks every test whose time has come (store
// ab_tests_due) and records what it found: a decision (moving the messages not yet attempted to
// the winner and releasing the messages held by `sample`), or an undecided check (the held
// messages wait for the next, or go with the split once the sample is spent). Returns the
// decisions taken (usually none). Runs on the store's thread: the dispatcher calls it before
// each claim, so on a simulated clock it acts at the first due time after the decision time,
// before anything due then is sent. Throws store_error.
std::vector<ab_decision> decide_ab_tests(ab_store& db, time_point now);

// `campaign validate`'s warning when an audience of `audience` recipients cannot give every
// variant of every step with variants min_per_variant sends: the expected count is the audience
// less the holdout, times the sample, times the variant's share of its step's weights. Names the
// weakest variant at ab_test.min_per_variant (or sample, or ab_test) file:line:col; nullopt when
// the audience can reach it (or the campaign has no ab_test).
std::optional<config::config_issue> ab_evidence_warning(const config::campaign_config& campaign,
                                                        std::size_t audience);

// An A/B test's state in one line, as `campaign show` and `pigeon status` print it: decided
// (when, the reason with the rates, how many messages moved to the winner), or when it decides
// at the earliest, on what evidence, the last check's finding and the held messages.
std::string describe_ab_decision(const ab_decision& d);

// The same as JSON ("ab_decision" of `campaign show --json` and of each campaign in
// `status --json`); null without a test.
boost::json::value ab_decision_json(const std::optional<ab_decision>& d);

}  // namespace pigeon::engine::campaign
