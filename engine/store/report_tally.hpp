#pragma once

// The counting behind store::collect_report, shared by the backends so a report has the same
// figures on either: each backend reads its rows its own way (SQLite one per message, PostgreSQL
// grouped by the server) and feeds them here; finish() assembles the report_facts.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/model/report_data.hpp"

namespace pigeon::engine {

class report_tally {
 public:
  static constexpr std::int64_t hour_ms = 3'600'000;
  static constexpr std::int64_t day_ms = 24 * hour_ms;
  // The start of the `unit` (hour, day) holding `ms`, also before 1970 (floor, not truncation).
  static std::int64_t floor_to(std::int64_t ms, std::int64_t unit) {
    return (ms >= 0 ? ms : ms - unit + 1) / unit * unit;
  }

  explicit report_tally(const report_query& q) : query_(q) {}

  // The index of the step × variant row. A campaign has a few rows: a look along them beats
  // building a key (a whole-table scan meets them in any order).
  int row(std::string_view step, std::string_view variant) {
    if (keys_.size() <= 32)
      for (std::size_t i = 0; i < keys_.size(); ++i)
        if (keys_[i].step == step && keys_[i].variant == variant) return static_cast<int>(i);
    return new_row(step, variant);
  }
  // The same, looked up only when the scan moves to another row than `last` (-1: none yet).
  int row(int last, std::string_view step, std::string_view variant) {
    if (last >= 0 && keys_[static_cast<std::size_t>(last)].step == step &&
        keys_[static_cast<std::size_t>(last)].variant == variant)
      return last;
    return row(step, variant);
  }

  // `n` messages of `row` in `state`; `reason` is a suppressed one's reason (else ignored);
  // `final_at` when set (a final state's day: any time of that day).
  void add_messages(int row, std::string_view state, std::string_view reason,
                    std::optional<std::int64_t> final_at, std::int64_t n);
  // `n` messages of `row` sent (accepted by a carrier) on the day of `sent_at`, `segments` in all.
  void add_sent(int row, std::int64_t sent_at, std::int64_t segments, std::int64_t n) {
    auto& cell = cells_[static_cast<std::size_t>(row)];
    cell.sent += n;
    cell.segments += segments;
    auto& d = day(sent_at, row);
    d.sent += n;
    d.segments += segments;
  }
  // The timeline's hour holding `at`.
  report_hour& hour(std::int64_t at) { return hours_[floor_to(at, hour_ms)]; }
  // `segments` sent through `provider` ("" when none recorded).
  std::int64_t& provider_segments(const std::string& provider) {
    return facts_.segments_by_provider[provider];
  }
  // `n` delivered messages whose receipt came `latency_ms` after their send (clamped to 0).
  void add_latency(std::int64_t latency_ms, std::int64_t n) {
    facts_.latencies_ms.insert(facts_.latencies_ms.end(), static_cast<std::size_t>(n),
                               latency_ms < 0 ? 0 : latency_ms);
  }

  // A reply attributed to message `message_id` of the row (step, variant), from `contact` at
  // `at`, matched to `keyword` ("" unmatched). Fed in (at, id) order: recipients count once per
  // row and per keyword, on the day of their first reply; a goal keyword converts.
  void add_reply(std::string_view step, std::string_view variant, std::int64_t message_id,
                 std::int64_t contact, const std::string& keyword, std::int64_t at);
  // A recipient of the row opted out at `at`, within the window after its send.
  void add_opt_out(std::string_view step, std::string_view variant, std::int64_t at);
  // Goal event `name` first reached at `at` within the window after message `message_id`.
  void add_goal_event(std::string_view step, std::string_view variant, std::int64_t message_id,
                      const std::string& name, std::int64_t at);
  // A failed or undelivered message: its latest receipt's code and text (joined by '\x1f') when
  // one has a code, else the code in the submit's `reason`. Fed in message id order: a code's
  // example text is its first message's.
  void add_failure(const std::string& provider, const std::string& reason,
                   const std::optional<std::string>& receipt);

  // The facts gathered (the tally is spent).
  report_facts finish();

 private:
  int new_row(std::string_view step, std::string_view variant);
  report_counts& day(std::int64_t ms, int row) {
    return days_[floor_to(ms, day_ms) / day_ms * 65536 + row];
  }
  void convert(std::int64_t message_id, int row, std::int64_t at, std::string goal);

  const report_query& query_;
  report_facts facts_;
  // Rows by a small index, days and hours in hash maps by number: at a million messages this is
  // most of the work, and tree maps keyed by strings took several times longer.
  std::vector<report_step_key> keys_;
  std::vector<report_counts> cells_;
  std::map<report_step_key, int> index_of_;
  std::unordered_map<std::int64_t, report_counts> days_;  // day number * 2^16 + row index
  std::unordered_map<std::int64_t, report_hour> hours_;   // hour start (ms)
  // message id -> its row, the first goal's time, the goals reached.
  struct conversion {
    int row = 0;
    std::int64_t at = 0;
    std::set<std::string> goals;
  };
  std::unordered_map<std::int64_t, conversion> converted_;
  // (row, contact) and (row, keyword, contact) seen, packed into one number each: contact ids
  // stay far below 2^35, rows below 2^16, distinct keywords matched below 2^12.
  std::unordered_set<std::int64_t> repliers_, by_keyword_;
  std::map<std::string, std::int64_t> keyword_index_;
  std::map<std::pair<std::string, std::string>, report_error> errors_;
};

}  // namespace pigeon::engine
