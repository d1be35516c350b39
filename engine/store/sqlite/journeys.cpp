// sqlite_store: lifecycle journeys (migration 13). The logic lives in engine/campaign/journeys.cpp;
// this file only stores entries, `enters` state, exits, the rollover index and each journey's
// clock.
#include <spdlog/spdlog.h>

#include <chrono>

#include "engine/model/phone.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::sqlite {

std::vector<bool> sqlite_store::enter_journeys(const std::string& campaign,
                                               const std::vector<journey_entry>& entries,
                                               time_point at) {
  std::vector<bool> entered;
  // One savepoint for the batch: SQLite's RELEASE of a savepoint nested in a long transaction
  // walks the in-memory sub-journal from its start, so one per contact made a rollover
  // quadratic (11,000 win-backs: 7 s of the 9 s in bench_journeys.sh).
  atomically("enter journey", [&] {
    entered.assign(entries.size(), false);
    std::vector<new_message> messages;
    query q(*db_,
            "INSERT INTO journey_entries (campaign, contact_id, occurrence, entered_at) "
            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING");
    for (std::size_t i = 0; i < entries.size(); ++i, q.reset()) {
      q.bind(1, campaign).bind(2, entries[i].contact_id).bind(3, entries[i].occurrence).bind(4, at);
      q.run();
      if (db_->changes() == 0) continue;
      entered[i] = true;
      messages.insert(messages.end(), entries[i].messages.begin(), entries[i].messages.end());
    }
    // The last entry is read from journey_entries (last_journey_entry): nothing else to note.
    if (!messages.empty()) enqueue(messages);
  });
  return entered;
}

std::optional<time_point> sqlite_store::last_journey_entry(const std::string& campaign,
                                                           std::int64_t contact_id) {
  std::optional<time_point> out;
  atomically("read journey entry", [&] {
    // The rows of one recipient through the primary key, their latest taken here: with
    // max(entered_at) in SQL the planner walks journey_entries_by_time backwards through every
    // entry of the campaign (a rollover of 11,000 win-backs took 9 s in bench_journeys.sh).
    query q(*db_, "SELECT entered_at FROM journey_entries WHERE campaign = ?1 AND contact_id = ?2");
    q.bind(1, campaign).bind(2, contact_id);
    while (q.step()) {
      auto at = q.get_time(0);
      if (!out || at > *out) out = at;
    }
  });
  return out;
}

std::vector<std::int64_t> sqlite_store::journey_matching(const std::string& campaign) {
  std::vector<std::int64_t> out;
  atomically("read journey members", [&] {
    query q(*db_,
            "SELECT contact_id FROM journey_members WHERE campaign = ?1 AND matching = 1 "
            "ORDER BY contact_id");
    q.bind(1, campaign);
    while (q.step()) out.push_back(q.get_int(0));
  });
  return out;
}

void sqlite_store::set_journey_matching(const std::string& campaign,
                                        const std::vector<std::pair<std::int64_t, bool>>& flags) {
  if (flags.empty()) return;
  atomically("update journey members", [&] {
    query q(*db_,
            "INSERT INTO journey_members (campaign, contact_id, matching) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (campaign, contact_id) DO UPDATE SET matching = ?3");
    for (const auto& [id, matching] : flags) {
      q.bind(1, campaign).bind(2, id).bind(3, matching ? 1 : 0);
      q.run();
      q.reset();
    }
  });
}

void sqlite_store::record_journey_exit(const std::string& campaign, std::int64_t contact_id,
                                       const std::string& reason, time_point at) {
  atomically("record journey exit", [&] {
    query q(*db_,
            "INSERT INTO journey_exits (campaign, contact_id, reason, at) "
            "SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM journey_exits WHERE "
            "campaign = ?1 AND contact_id = ?2 AND reason = ?3)");
    q.bind(1, campaign).bind(2, contact_id).bind(3, reason).bind(4, at);
    q.run();
  });
}

void sqlite_store::set_journey_dates(const std::string& campaign,
                                     const std::vector<journey_date>& rows,
                                     const std::vector<std::int64_t>& removed) {
  if (rows.empty() && removed.empty()) return;
  atomically("index journey dates", [&] {
    query q(*db_,
            "INSERT INTO journey_dates (campaign, contact_id, zone, month, day, date, "
            "next_check) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (campaign, contact_id) "
            "DO UPDATE SET zone = ?3, month = ?4, day = ?5, date = ?6, next_check = ?7");
    for (const auto& r : rows) {
      q.bind(1, campaign).bind(2, r.contact_id).bind(3, r.zone).bind(4, r.month);
      q.bind(5, r.day).bind(6, r.date).bind(7, r.next_check);
      q.run();
      q.reset();
    }
    query d(*db_, "DELETE FROM journey_dates WHERE campaign = ?1 AND contact_id = ?2");
    for (auto id : removed) {
      d.bind(1, campaign).bind(2, id);
      d.run();
      d.reset();
    }
  });
}

std::vector<std::string> sqlite_store::journey_zones(const std::string& campaign) {
  std::vector<std::string> out;
  atomically("read journey zones", [&] {
    // A skip scan of the (campaign, zone, ...) index: one probe per zone, not one per contact.
    std::string zone;
    for (;;) {
      query q(*db_,
              "SELECT zone FROM journey_dates WHERE campaign = ?1 AND zone > ?2 "
              "ORDER BY zone LIMIT 1");
      q.bind(1, campaign).bind(2, zone);
      if (!q.step()) break;
      zone = q.get_text(0);
      out.push_back(zone);
    }
  });
  return out;
}

void sqlite_store::for_each_journey_contact(const journey_query& jq,
                                            const std::function<void(const contact&)>& fn) {
  atomically("read journey contacts", [&] {
    std::string sql = std::string("SELECT ") + sqlite::contact_columns +
                      " FROM journey_dates j JOIN contacts k ON k.id = j.contact_id "
                      "WHERE j.campaign = ?1 AND j.zone = ?2";
    if (jq.due_by) {
      sql += " AND j.next_check IS NOT NULL AND j.next_check <= ?3";
    } else if (!jq.date.empty()) {
      sql += " AND j.date = ?3";
    } else if (!jq.days.empty()) {
      sql += jq.month > 0 ? " AND j.month = ?3" : " AND j.month > 0";
      sql += " AND j.day IN (";
      for (std::size_t i = 0; i < jq.days.size(); ++i)
        sql += (i ? "," : "") + std::to_string(jq.days[i]);
      sql += ")";
    }
    // No ORDER BY: sorting a zone of a million contacts would hold them all in memory.
    query q(*db_, sql);
    q.bind(1, jq.campaign).bind(2, jq.zone);
    if (jq.due_by)
      q.bind(3, *jq.due_by);
    else if (!jq.date.empty())
      q.bind(3, jq.date);
    else if (!jq.days.empty() && jq.month > 0)
      q.bind(3, jq.month);
    sqlite::for_each_contact_row(q, fn);
  });
}

std::optional<time_point> sqlite_store::journey_clock(const std::string& campaign) {
  std::optional<time_point> out;
  atomically("read journey clock", [&] {
    query q(*db_, "SELECT evaluated_through FROM journey_clock WHERE campaign = ?1");
    q.bind(1, campaign);
    if (q.step()) out = q.get_time(0);
  });
  return out;
}

void sqlite_store::set_journey_clock(const std::string& campaign, time_point through) {
  atomically("set journey clock", [&] {
    // Never backwards (journey_store): an evaluation through an earlier instant leaves it.
    query q(*db_,
            "INSERT INTO journey_clock (campaign, evaluated_through) VALUES (?1, ?2) "
            "ON CONFLICT (campaign) DO UPDATE SET evaluated_through = "
            "max(evaluated_through, ?2)");
    q.bind(1, campaign).bind(2, through);
    q.run();
  });
}

journey_stats sqlite_store::journey_statistics(const std::string& campaign, time_point now) {
  journey_stats out;
  atomically("journey statistics", [&] {
    auto day_start = std::chrono::floor<std::chrono::days>(now);
    {
      query q(*db_,
              "SELECT count(*), sum(entered_at >= ?2), sum(entered_at >= ?3) "
              "FROM journey_entries WHERE campaign = ?1");
      q.bind(1, campaign).bind(2, time_point(day_start)).bind(3, now - std::chrono::days(7));
      if (q.step()) {
        out.entries_total = q.get_int(0);
        out.entries_today = q.is_null(1) ? 0 : q.get_int(1);
        out.entries_7d = q.is_null(2) ? 0 : q.get_int(2);
      }
    }
    {
      query q(*db_, "SELECT count(*) FROM journey_dates WHERE campaign = ?1");
      q.bind(1, campaign);
      if (q.step()) out.indexed = q.get_int(0);
    }
    {
      query q(*db_,
              "SELECT step, count(*) FROM messages WHERE campaign = ?1 AND state IN "
              "('scheduled', 'deferred', 'retry', 'leased', 'submitting') GROUP BY step");
      q.bind(1, campaign);
      while (q.step()) out.in_progress[q.get_text(0)] = q.get_int(1);
    }
    {
      // Why recipients left before the end: a suppressed message's reason, by kind.
      query q(*db_,
              "SELECT CASE WHEN reason LIKE 'stop_on%' THEN 'stop_on' "
              "WHEN reason LIKE 'opted out%' THEN 'opt-out' "
              "WHEN reason LIKE 'holdout%' THEN 'holdout' "
              "WHEN reason LIKE '%per %' THEN 'cap' ELSE reason END, count(DISTINCT contact_id) "
              "FROM messages WHERE campaign = ?1 AND state = 'suppressed' GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.exits[q.get_text(0)] += q.get_int(1);
    }
    {
      query q(*db_,
              "SELECT CASE WHEN reason LIKE 'unreadable %' THEN 'unreadable date' ELSE reason "
              "END, count(*) FROM journey_exits WHERE campaign = ?1 GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.exits[q.get_text(0)] += q.get_int(1);
    }
    {
      query q(*db_,
              "SELECT strftime('%Y-%m-%d', entered_at / 1000, 'unixepoch'), count(*) "
              "FROM journey_entries WHERE campaign = ?1 GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.entries_by_day[q.get_text(0)] = q.get_int(1);
    }
    {
      // Exits by day: journey_exits, and suppressed messages (stop_on, opt-out, cap) on the day
      // they were suppressed.
      query q(*db_,
              "SELECT strftime('%Y-%m-%d', at / 1000, 'unixepoch'), count(*) FROM journey_exits "
              "WHERE campaign = ?1 GROUP BY 1 UNION ALL "
              "SELECT strftime('%Y-%m-%d', final_at / 1000, 'unixepoch'), "
              "count(DISTINCT contact_id) FROM messages WHERE campaign = ?1 AND "
              "state = 'suppressed' AND reason <> 'holdout' AND final_at IS NOT NULL GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.exits_by_day[q.get_text(0)] += q.get_int(1);
    }
    {
      query q(*db_,
              "SELECT k.phone, x.reason FROM journey_exits x JOIN contacts k ON k.id = "
              "x.contact_id WHERE x.campaign = ?1 AND x.reason LIKE 'unreadable %' "
              "ORDER BY x.at LIMIT 5");
      q.bind(1, campaign);
      while (q.step()) out.skipped.emplace_back(mask_phone(q.get_text(0)), q.get_text(1));
    }
  });
  return out;
}

std::vector<contact> sqlite_store::contacts_by_id(const std::vector<std::int64_t>& ids) {
  std::vector<contact> out;
  if (ids.empty()) return out;
  atomically("read contacts", [&] {
    std::string list = "[";
    for (auto id : ids) list += (list.size() > 1 ? "," : "") + std::to_string(id);
    list += "]";
    query q(*db_, std::string("SELECT ") + sqlite::contact_columns +
                      " FROM contacts k WHERE k.id IN (SELECT value FROM json_each(?1)) AND " +
                      sqlite::live_contact_sql + " ORDER BY k.id");
    q.bind(1, list);
    while (q.step()) {
      try {
        out.push_back(sqlite::read_contact(q, 0));
      } catch (const store_error& e) {
        spdlog::warn("skipped {}", e.what());
      }
    }
  });
  return out;
}

}  // namespace pigeon::engine::sqlite
