#pragma once

// The arithmetic of store::operations shared by the backends, so `pigeon status` shows the same
// figures on either: each reads its rows its own way and adds them up here.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/ops_snapshot.hpp"

namespace pigeon::engine::ops_figures {

// The most recent completed attempts per provider that the hour's p99 is taken from.
inline constexpr std::int64_t latency_sample_cap = 10000;

// Adds `n` ledger rows with `outcome` to `c`.
inline void count_outcome(attempt_counts& c, std::string_view outcome, std::int64_t n) {
  c.attempts += n;
  if (outcome == "pending") {
    c.pending += n;
  } else if (outcome == "submitted") {
    c.accepted += n;
  } else if (outcome == "delivered") {
    c.accepted += n;
    c.delivered += n;
  } else if (outcome == "failed" || outcome == "undelivered") {
    c.failed += n;
  } else if (outcome == "retry" || outcome == "unknown") {
    c.retried += n;
  }
  // expired, suppressed, deferred: the attempt ended without a carrier verdict.
}

// The provider's figures in `s`, added (empty) when it is not there yet.
inline provider_figures& provider_named(ops_snapshot& s, const std::string& name) {
  auto it = std::find_if(s.providers.begin(), s.providers.end(),
                         [&](const provider_figures& p) { return p.name == name; });
  if (it != s.providers.end()) return *it;
  s.providers.push_back({name, {}, {}, {}});
  return s.providers.back();
}

// The campaign's figures in `s`, added (empty) when it is not there yet.
inline campaign_figures& campaign_named(ops_snapshot& s, const std::string& name) {
  for (auto& c : s.campaigns)
    if (c.name == name) return c;
  s.campaigns.push_back({name, {}, {}, {}});
  return s.campaigns.back();
}

// The 99th percentile of `latencies` (reordered), nullopt when empty.
inline std::optional<double> p99(std::vector<std::int64_t>& latencies) {
  if (latencies.empty()) return std::nullopt;
  const auto k = (latencies.size() * 99 - 1) / 100;
  std::nth_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(k),
                   latencies.end());
  return static_cast<double>(latencies[k]);
}

}  // namespace pigeon::engine::ops_figures
