// sqlite_store: the counts of a campaign report (store::collect_report). One pass over the
// campaign's messages (through the (campaign, step, contact_id) unique index, so the rows come
// grouped by step), then the few rows that add to it: attributed replies (replies_by_campaign),
// opted-out contacts (contacts_opted_out, then each one's messages), goal events
// (events_by_name) and the failures' receipts (messages_by_state). About 0.5 s per million
// messages: no aggregate table is kept, so nothing slows the dispatcher's writes
// (docs/BENCHMARKS.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <tuple>
#include <unordered_map>

#include "engine/store/sqlite_db.hpp"
#include "engine/store/sqlite_store.hpp"

namespace pigeon::engine {

using sqlite::query;

namespace {

constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t day_ms = 24 * hour_ms;

std::int64_t floor_to(std::int64_t ms, std::int64_t unit) {
  return (ms >= 0 ? ms : ms - unit + 1) / unit * unit;
}

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

// Per-day counts keyed by the day's start, turned into day texts at the end (one string per day
// and cell, not per message).
using day_map = std::map<std::pair<std::int64_t, report_step_key>, report_counts>;

}  // namespace

report_facts sqlite_store::collect_report(const report_query& rq) {
  report_facts out;
  day_map days;
  const std::int64_t window = rq.window.count();
  atomically("report", [&] {
    // 1. The funnel, per step × variant, and the timeline of sends and deliveries.
    query q(*db_,
            "SELECT step, variant, state, sent_at, final_at, segments, provider, "
            "CASE WHEN state = 'suppressed' THEN reason ELSE '' END FROM messages "
            "WHERE campaign = ?1 AND direct_text IS NULL");
    q.bind(1, rq.campaign);
    report_step_key key;
    report_counts* cell = nullptr;
    std::string last_provider;
    std::int64_t* provider_segments = nullptr;
    while (q.step()) {
      auto step = q.get_view(0);
      auto variant = q.get_view(1);
      if (!cell || key.step != step || key.variant != variant) {
        key = {std::string(step), std::string(variant)};
        cell = &out.cells[key];
      }
      auto state = q.get_view(2);
      ++cell->queued;
      report_counts* final_day = nullptr;
      if (!q.is_null(4) && (state == "delivered" || state == "undelivered" || state == "failed" ||
                            state == "expired" || state == "suppressed"))
        final_day = &days[{floor_to(q.get_int(4), day_ms), key}];
      auto count = [&](std::int64_t report_counts::*field) {
        ++(cell->*field);
        if (final_day) ++(final_day->*field);
      };
      if (state == "delivered") {
        count(&report_counts::delivered);
      } else if (state == "undelivered") {
        count(&report_counts::undelivered);
      } else if (state == "failed") {
        count(&report_counts::failed);
      } else if (state == "expired") {
        count(&report_counts::expired);
      } else if (state == "suppressed") {
        count(&report_counts::suppressed);
        auto reason = q.get_text(7);
        ++cell->suppressed_by_reason[reason.empty() ? "(none)" : reason];
        if (final_day) ++final_day->suppressed_by_reason[reason.empty() ? "(none)" : reason];
      } else {
        ++cell->pending;
      }
      if (q.is_null(3)) continue;
      const std::int64_t sent_at = q.get_int(3);
      const std::int64_t segments = q.get_int(5);
      ++cell->sent;
      cell->segments += segments;
      auto& day = days[{floor_to(sent_at, day_ms), key}];
      ++day.sent;
      day.segments += segments;
      ++out.hours[floor_to(sent_at, hour_ms)].sent;
      auto provider = q.get_view(6);
      if (!provider_segments || provider != last_provider) {
        last_provider = std::string(provider);
        provider_segments = &out.segments_by_provider[last_provider];
      }
      *provider_segments += segments;
      if (state == "delivered" && !q.is_null(4)) {
        const std::int64_t at = q.get_int(4);
        ++out.hours[floor_to(at, hour_ms)].delivered;
        out.latencies_ms.push_back(std::max<std::int64_t>(0, at - sent_at));
      }
    }

    // 2. Replies attributed to the campaign's messages: recipients per keyword, conversions by
    // goal keyword, the timeline's replies (every reply, in its hour).
    std::unordered_map<std::int64_t, std::pair<report_step_key, std::int64_t>> converted;
    auto convert = [&](std::int64_t message_id, const report_step_key& k, std::int64_t at) {
      auto [it, fresh] = converted.try_emplace(message_id, k, at);
      if (!fresh && at < it->second.second) it->second.second = at;
    };
    query r(*db_,
            "SELECT m.step, m.variant, m.id, r.contact_id, r.keyword, r.at FROM replies r "
            "JOIN messages m ON m.id = r.message_id WHERE r.campaign = ?1 "
            "AND m.direct_text IS NULL ORDER BY r.at, r.id");
    r.bind(1, rq.campaign);
    std::set<std::pair<report_step_key, std::int64_t>> repliers;
    std::set<std::tuple<report_step_key, std::string, std::int64_t>> by_keyword;
    while (r.step()) {
      report_step_key k{r.get_text(0), r.get_text(1)};
      const std::int64_t contact = r.get_int(3), at = r.get_int(5);
      auto keyword = r.get_text(4);
      ++out.hours[floor_to(at, hour_ms)].replied;
      if (repliers.insert({k, contact}).second) {
        ++out.cells[k].replied;
        ++days[{floor_to(at, day_ms), k}].replied;
      }
      const std::string shown = keyword.empty() ? "(unmatched)" : keyword;
      if (by_keyword.insert({k, shown, contact}).second) {
        ++out.cells[k].replied_by_keyword[shown];
        ++days[{floor_to(at, day_ms), k}].replied_by_keyword[shown];
      }
      if (std::find(rq.goal_keywords.begin(), rq.goal_keywords.end(), keyword) !=
          rq.goal_keywords.end())
        convert(r.get_int(2), k, at);
    }

    // 3. Opt-outs within the window after a send (contacts opted out now: a START since
    // clears it). Few contacts are opted out: start from them.
    query o(*db_,
            "SELECT m.step, m.variant, k.opted_out_at FROM contacts k CROSS JOIN messages m "
            "ON m.contact_id = k.id WHERE k.opted_out_at IS NOT NULL AND m.campaign = ?1 "
            "AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
            "AND k.opted_out_at >= m.sent_at AND k.opted_out_at <= m.sent_at + ?2");
    o.bind(1, rq.campaign).bind(2, window);
    while (o.step()) {
      report_step_key k{o.get_text(0), o.get_text(1)};
      ++out.cells[k].opted_out;
      ++days[{floor_to(o.get_int(2), day_ms), k}].opted_out;
    }

    // 4. Goal events within the window after a send.
    if (!rq.goal_events.empty()) {
      std::string names;
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        names += (i ? ", ?" : "?") + std::to_string(i + 3);
      query e(*db_,
              "SELECT m.step, m.variant, m.id, min(e.at) FROM events e CROSS JOIN messages m "
              "ON m.contact_id = e.contact_id WHERE e.name IN (" +
                  names +
                  ") AND m.campaign = ?1 AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
                  "AND e.at >= m.sent_at AND e.at <= m.sent_at + ?2 GROUP BY m.id");
      e.bind(1, rq.campaign).bind(2, window);
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        e.bind(static_cast<int>(i + 3), rq.goal_events[i]);
      while (e.step()) convert(e.get_int(2), {e.get_text(0), e.get_text(1)}, e.get_int(3));
    }
    for (const auto& [id, which] : converted) {
      ++out.cells[which.first].converted;
      ++days[{floor_to(which.second, day_ms), which.first}].converted;
    }

    // 5. Carrier error codes of the failed and undelivered messages: the latest receipt's code,
    // else the one in the submit's rejection.
    query f(*db_,
            "SELECT m.provider, m.reason, (SELECT r.error_code || char(31) || r.error_text "
            "FROM receipts r WHERE r.message_id = m.id AND r.error_code <> '' "
            "ORDER BY r.id DESC LIMIT 1) FROM messages m WHERE m.campaign = ?1 "
            "AND m.state IN ('failed', 'undelivered') AND m.direct_text IS NULL");
    f.bind(1, rq.campaign);
    std::map<std::pair<std::string, std::string>, report_error> errors;
    while (f.step()) {
      std::pair<std::string, std::string> code_text;
      if (auto receipt = f.get_opt_text(2)) {
        auto sep = receipt->find('\x1f');
        code_text = {receipt->substr(0, sep), receipt->substr(sep + 1)};
      } else {
        code_text = code_from_reason(f.get_text(1));
      }
      auto& e = errors[{f.get_text(0), code_text.first}];
      if (e.count++ == 0) e = {f.get_text(0), code_text.first, code_text.second, 1};
    }
    for (auto& [_, e] : errors) out.errors.push_back(std::move(e));
    std::stable_sort(out.errors.begin(), out.errors.end(),
                     [](const auto& a, const auto& b) { return a.count > b.count; });
  });
  for (auto& [k, counts] : days) out.days[{day_text(k.first), k.second}] = std::move(counts);
  return out;
}

}  // namespace pigeon::engine
