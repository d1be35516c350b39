#include "engine/store/report_tally.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

namespace pigeon::engine {

namespace {

std::string day_text(std::int64_t day_start_ms) {
  auto d =
      std::chrono::floor<std::chrono::days>(time_point(std::chrono::milliseconds(day_start_ms)));
  std::chrono::year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

// The code of a failure without a receipt code, from the reason the dispatcher wrote:
// "rejected CODE: text" (a permanent refusal) or "... carrier CODE: text" (retries given up).
std::pair<std::string, std::string> code_from_reason(const std::string& reason) {
  for (const char* marker : {"rejected ", "carrier "}) {
    auto at = reason.find(marker);
    if (at == std::string::npos) continue;
    auto start = at + std::char_traits<char>::length(marker);
    auto end = reason.find_first_of(": ", start);
    auto code = reason.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!code.empty()) return {code, reason};
  }
  return {"(none)", reason};
}

}  // namespace

int report_tally::new_row(std::string_view step, std::string_view variant) {
  report_step_key k{std::string(step), std::string(variant)};
  auto [it, fresh] = index_of_.try_emplace(k, static_cast<int>(keys_.size()));
  if (fresh) {
    keys_.push_back(std::move(k));
    cells_.emplace_back();
  }
  return it->second;
}

void report_tally::add_messages(int row, std::string_view state, std::string_view reason,
                                std::optional<std::int64_t> final_at, std::int64_t n) {
  report_counts& cell = cells_[static_cast<std::size_t>(row)];
  cell.queued += n;
  std::int64_t report_counts::*field = nullptr;
  if (state == "delivered") {
    field = &report_counts::delivered;
  } else if (state == "undelivered") {
    field = &report_counts::undelivered;
  } else if (state == "failed") {
    field = &report_counts::failed;
  } else if (state == "expired") {
    field = &report_counts::expired;
  } else if (state == "suppressed") {
    field = &report_counts::suppressed;
  } else {
    cell.pending += n;
    return;
  }
  // A final state is counted on its day as well, when its time is known.
  report_counts* final_day = final_at ? &day(*final_at, row) : nullptr;
  cell.*field += n;
  if (final_day) final_day->*field += n;
  if (field != &report_counts::suppressed) return;
  const std::string shown = reason.empty() ? "(none)" : std::string(reason);
  cell.suppressed_by_reason[shown] += n;
  if (final_day) final_day->suppressed_by_reason[shown] += n;
}

void report_tally::convert(std::int64_t message_id, int row, std::int64_t at, std::string goal) {
  auto [it, fresh] = converted_.try_emplace(message_id, conversion{row, at, {}});
  if (!fresh && at < it->second.at) it->second.at = at;
  it->second.goals.insert(std::move(goal));
}

void report_tally::add_reply(std::string_view step, std::string_view variant,
                             std::int64_t message_id, std::int64_t contact,
                             const std::string& keyword, std::int64_t at) {
  const int k = row(step, variant);
  ++hour(at).replied;
  if (repliers_.insert(contact << 28 | k).second) {
    ++cells_[static_cast<std::size_t>(k)].replied;
    ++day(at, k).replied;
  }
  const std::string shown = keyword.empty() ? "(unmatched)" : keyword;
  const std::int64_t kw =
      keyword_index_.try_emplace(shown, static_cast<std::int64_t>(keyword_index_.size()))
          .first->second;
  if (by_keyword_.insert(contact << 28 | kw << 16 | k).second) {
    ++cells_[static_cast<std::size_t>(k)].replied_by_keyword[shown];
    ++day(at, k).replied_by_keyword[shown];
  }
  // Campaign keywords are stored as written, goals upper case (as replies are matched).
  std::string upper = keyword;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (std::find(query_.goal_keywords.begin(), query_.goal_keywords.end(), upper) !=
      query_.goal_keywords.end())
    convert(message_id, k, at, "reply:" + upper);
}

void report_tally::add_opt_out(std::string_view step, std::string_view variant, std::int64_t at) {
  const int k = row(step, variant);
  ++cells_[static_cast<std::size_t>(k)].opted_out;
  ++day(at, k).opted_out;
}

void report_tally::add_goal_event(std::string_view step, std::string_view variant,
                                  std::int64_t message_id, const std::string& name,
                                  std::int64_t at) {
  convert(message_id, row(step, variant), at, "event:" + name);
}

void report_tally::add_failure(const std::string& provider, const std::string& reason,
                               const std::optional<std::string>& receipt) {
  std::pair<std::string, std::string> code_text;
  if (receipt) {
    auto sep = receipt->find('\x1f');
    code_text = {receipt->substr(0, sep),
                 sep == std::string::npos ? std::string() : receipt->substr(sep + 1)};
  } else {
    code_text = code_from_reason(reason);
  }
  auto& e = errors_[{provider, code_text.first}];
  if (e.count++ == 0) e = {provider, code_text.first, code_text.second, 1};
}

report_facts report_tally::finish() {
  for (const auto& [id, c] : converted_) {
    auto& cell = cells_[static_cast<std::size_t>(c.row)];
    ++cell.converted;
    ++day(c.at, c.row).converted;
    for (const auto& goal : c.goals) ++cell.converted_by_goal[goal];
  }
  for (auto& [_, e] : errors_) facts_.errors.push_back(std::move(e));
  std::stable_sort(facts_.errors.begin(), facts_.errors.end(),
                   [](const auto& a, const auto& b) { return a.count > b.count; });
  for (std::size_t i = 0; i < keys_.size(); ++i) facts_.cells[keys_[i]] = std::move(cells_[i]);
  for (auto& [k, counts] : days_) {
    // Undo day * 2^16 + row (the row is never negative; the day may be).
    const std::int64_t row = ((k % 65536) + 65536) % 65536, day = (k - row) / 65536;
    facts_.days[{day_text(day * day_ms), keys_[static_cast<std::size_t>(row)]}] = std::move(counts);
  }
  for (const auto& [at, h] : hours_) facts_.hours[at] = h;
  return std::move(facts_);
}

}  // namespace pigeon::engine
