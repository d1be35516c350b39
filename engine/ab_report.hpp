#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/model.hpp"

namespace pigeon::engine {

// A/B comparison for `campaign show`: each variant's conversion on the campaign's metric
// (`reply:K` or `event:NAME`, from ab_test) and a two-proportion z-test between the two
// leading variants (the holdout, if any, is shown but not one of them). Pure functions.

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

}  // namespace pigeon::engine
