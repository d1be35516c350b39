#pragma once

// What keeps forged and replayed webhooks from costing more than a refusal: a refusal log that
// counts every refusal by provider and status but writes at most one line per (provider, status)
// every 10 s, and a replay guard that remembers the digests of signed requests whose MOs carry no
// carrier id (nothing else would tell a replay from a new message).
//
// Threading: both are used on the webhook server's thread only.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/model/ops_snapshot.hpp"

namespace pigeon::engine::inbound {

class refusal_log {
 public:
  static constexpr std::chrono::seconds log_interval{10};
  static constexpr std::chrono::minutes recent_window{5};

  // Counts one refusal and logs it as a warning, unless this (provider, status) was logged less
  // than log_interval ago: then it is counted, and the next line logged for it says how many
  // were not ("…; 1,234 more like it since the last line").
  void refused(const std::string& provider, int status, std::string_view path,
               std::string_view reason, std::chrono::steady_clock::time_point now);

  std::vector<refusal_count> counts(std::chrono::steady_clock::time_point now) const;

 private:
  struct entry {
    std::uint64_t total = 0;
    std::uint64_t unlogged = 0;
    std::chrono::steady_clock::time_point logged_at{};
    std::int64_t window = -1;  // index of the recent window `current` counts
    std::uint64_t current = 0, previous = 0;
  };
  std::map<std::pair<std::string, int>, entry> entries_;
};

class replay_guard {
 public:
  static constexpr std::chrono::minutes window{10};  // longer than any codec's timestamp window
  static constexpr std::size_t max_remembered = 65536;

  // True the first time `signed_request` (the bytes that authenticate a request: target, body,
  // signature headers) is seen within `window`; false for a replay. Remembers its SHA-256.
  bool first_time(std::string_view signed_request, time_point now);
  // Forgets a request first_time remembered (its events could not be stored: the carrier's retry
  // must get through).
  void forget(std::string_view signed_request);

 private:
  std::deque<std::pair<std::string, time_point>> order_;  // oldest first
  std::unordered_set<std::string> seen_;  // digests in order_ (a forgotten one stays there)
};

}  // namespace pigeon::engine::inbound
