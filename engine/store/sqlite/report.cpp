// sqlite_store: the counts of a campaign report (store::collect_report). One pass over the
// campaign's messages (through the (campaign, step, contact_id) unique index, so the rows come
// grouped by step), then the few rows that add to it: attributed replies (replies_by_campaign),
// opted-out contacts (contacts_opted_out, then each one's messages), goal events
// (events_by_name) and the failures' receipts (messages_by_state). About 0.5 s per million
// messages: no aggregate table is kept, so nothing slows the dispatcher's writes
// (docs/BENCHMARKS.md).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

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

// The counts being gathered: rows by a small index (a step × variant is looked up by its strings
// only when the scan moves to another one), days and hours in hash maps by number. At a million
// messages this is most of the work: tree maps keyed by strings took several times longer.
struct tally {
  std::vector<report_step_key> keys;
  std::vector<report_counts> cells;
  std::map<report_step_key, int> index_of;
  std::unordered_map<std::int64_t, report_counts> days;  // day number * 2^16 + row index
  std::unordered_map<std::int64_t, report_hour> hours;   // hour start (ms)

  int row(std::string_view step, std::string_view variant) {
    // A campaign has a few rows: a look along them beats building a key (the whole-table scan
    // below meets them in any order).
    if (keys.size() <= 32)
      for (std::size_t i = 0; i < keys.size(); ++i)
        if (keys[i].step == step && keys[i].variant == variant) return static_cast<int>(i);
    report_step_key k{std::string(step), std::string(variant)};
    auto [it, fresh] = index_of.try_emplace(k, static_cast<int>(keys.size()));
    if (fresh) {
      keys.push_back(std::move(k));
      cells.emplace_back();
    }
    return it->second;
  }
  report_counts& day(std::int64_t ms, int row) {
    return days[floor_to(ms, day_ms) / day_ms * 65536 + row];
  }
  report_hour& hour(std::int64_t ms) { return hours[floor_to(ms, hour_ms)]; }
};

}  // namespace

report_facts sqlite_store::collect_report(const report_query& rq) {
  report_facts out;
  tally t;
  const std::int64_t window = rq.window.count();
  atomically("report", [&] {
    // 1. The funnel, per step × variant, and the timeline of sends and deliveries. Read through
    // messages_by_state, the campaign's rows come in index order and each costs a look-up in
    // the table; the whole table read in rowid order costs about 2.5 times less per row
    // (sequential pages). So the scan wins once the campaign holds a third of the table (an
    // estimate: the largest rowid stands for the table's size).
    query n(*db_, "SELECT count(*) FROM messages WHERE campaign = ?1");
    n.bind(1, rq.campaign);
    const std::int64_t mine = n.step() ? n.get_int(0) : 0;
    const bool scan = mine * 3 >= db_->query_int("SELECT coalesce(max(rowid), 0) FROM messages");
    query q(*db_,
            std::string("SELECT step, variant, state, sent_at, final_at, segments, provider, "
                        "CASE WHEN state = 'suppressed' THEN reason ELSE '' END FROM messages") +
                (scan ? " NOT INDEXED" : "") + " WHERE campaign = ?1 AND direct_text IS NULL");
    q.bind(1, rq.campaign);
    int row = -1;
    std::string last_provider;
    std::int64_t* provider_segments = nullptr;
    while (q.step()) {
      auto step = q.get_view(0);
      auto variant = q.get_view(1);
      if (row < 0 || t.keys[row].step != step || t.keys[row].variant != variant)
        row = t.row(step, variant);
      report_counts& cell = t.cells[row];
      auto state = q.get_view(2);
      ++cell.queued;
      report_counts* final_day = nullptr;
      if (!q.is_null(4) && (state == "delivered" || state == "undelivered" || state == "failed" ||
                            state == "expired" || state == "suppressed"))
        final_day = &t.day(q.get_int(4), row);
      auto count = [&](std::int64_t report_counts::*field) {
        ++(cell.*field);
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
        if (reason.empty()) reason = "(none)";
        ++cell.suppressed_by_reason[reason];
        if (final_day) ++final_day->suppressed_by_reason[reason];
      } else {
        ++cell.pending;
      }
      if (q.is_null(3)) continue;
      const std::int64_t sent_at = q.get_int(3);
      const std::int64_t segments = q.get_int(5);
      ++cell.sent;
      cell.segments += segments;
      auto& day = t.day(sent_at, row);
      ++day.sent;
      day.segments += segments;
      ++t.hour(sent_at).sent;
      auto provider = q.get_view(6);
      if (!provider_segments || provider != last_provider) {
        last_provider = std::string(provider);
        provider_segments = &out.segments_by_provider[last_provider];
      }
      *provider_segments += segments;
      if (state == "delivered" && !q.is_null(4)) {
        const std::int64_t at = q.get_int(4);
        ++t.hour(at).delivered;
        out.latencies_ms.push_back(std::max<std::int64_t>(0, at - sent_at));
      }
    }

    // 2. Replies attributed to the campaign's messages: recipients per keyword, conversions by
    // goal keyword, the timeline's replies (every reply, in its hour).
    // message id -> its row, the first goal's time, the goals reached.
    struct conversion {
      int row = 0;
      std::int64_t at = 0;
      std::set<std::string> goals;
    };
    std::unordered_map<std::int64_t, conversion> converted;
    auto convert = [&](std::int64_t message_id, int row, std::int64_t at, std::string goal) {
      auto [it, fresh] = converted.try_emplace(message_id, conversion{row, at, {}});
      if (!fresh && at < it->second.at) it->second.at = at;
      it->second.goals.insert(std::move(goal));
    };
    query r(*db_,
            "SELECT m.step, m.variant, m.id, r.contact_id, r.keyword, r.at FROM replies r "
            "JOIN messages m ON m.id = r.message_id WHERE r.campaign = ?1 "
            "AND m.direct_text IS NULL ORDER BY r.at, r.id");
    r.bind(1, rq.campaign);
    // (row, contact) and (row, keyword, contact) seen, packed into one number each: contact ids
    // stay far below 2^35, rows below 2^16, distinct keywords matched below 2^12.
    std::unordered_set<std::int64_t> repliers, by_keyword;
    std::map<std::string, std::int64_t> keyword_index;
    while (r.step()) {
      const int k = t.row(r.get_view(0), r.get_view(1));
      const std::int64_t contact = r.get_int(3), at = r.get_int(5);
      auto keyword = r.get_text(4);
      ++t.hour(at).replied;
      if (repliers.insert(contact << 28 | k).second) {
        ++t.cells[k].replied;
        ++t.day(at, k).replied;
      }
      const std::string shown = keyword.empty() ? "(unmatched)" : keyword;
      const std::int64_t kw =
          keyword_index.try_emplace(shown, static_cast<std::int64_t>(keyword_index.size()))
              .first->second;
      if (by_keyword.insert(contact << 28 | kw << 16 | k).second) {
        ++t.cells[k].replied_by_keyword[shown];
        ++t.day(at, k).replied_by_keyword[shown];
      }
      // Campaign keywords are stored as written, goals upper case (as replies are matched).
      std::string upper = keyword;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (std::find(rq.goal_keywords.begin(), rq.goal_keywords.end(), upper) !=
          rq.goal_keywords.end())
        convert(r.get_int(2), k, at, "reply:" + upper);
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
      const int k = t.row(o.get_view(0), o.get_view(1));
      ++t.cells[k].opted_out;
      ++t.day(o.get_int(2), k).opted_out;
    }

    // 4. Goal events within the window after a send.
    if (!rq.goal_events.empty()) {
      std::string names;
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        names += (i ? ", ?" : "?") + std::to_string(i + 3);
      query e(
          *db_,
          "SELECT m.step, m.variant, m.id, e.name, min(e.at) FROM events e CROSS JOIN messages m "
          "ON m.contact_id = e.contact_id WHERE e.name IN (" +
              names +
              ") AND m.campaign = ?1 AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
              "AND e.at >= m.sent_at AND e.at <= m.sent_at + ?2 GROUP BY m.id, e.name");
      e.bind(1, rq.campaign).bind(2, window);
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        e.bind(static_cast<int>(i + 3), rq.goal_events[i]);
      while (e.step())
        convert(e.get_int(2), t.row(e.get_view(0), e.get_view(1)), e.get_int(4),
                "event:" + e.get_text(3));
    }
    for (const auto& [id, c] : converted) {
      auto& cell = t.cells[c.row];
      ++cell.converted;
      ++t.day(c.at, c.row).converted;
      for (const auto& goal : c.goals) ++cell.converted_by_goal[goal];
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
  for (std::size_t i = 0; i < t.keys.size(); ++i) out.cells[t.keys[i]] = std::move(t.cells[i]);
  for (auto& [k, counts] : t.days) {
    // Undo day * 2^16 + row (the row is never negative; the day may be).
    const std::int64_t row = ((k % 65536) + 65536) % 65536, day = (k - row) / 65536;
    out.days[{day_text(day * day_ms), t.keys[static_cast<std::size_t>(row)]}] = std::move(counts);
  }
  for (const auto& [at, h] : t.hours) out.hours[at] = h;
  return out;
}

}  // namespace pigeon::engine
