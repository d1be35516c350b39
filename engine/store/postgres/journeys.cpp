// postgres_store: lifecycle journeys. The logic lives in engine/campaign/journeys.cpp; this file
// only stores entries, `enters` state, exits, the rollover index and each journey's clock.
//
// Several nodes may evaluate one journey at once: an entry is exactly-once by the primary key
// of journey_entries (a second node's INSERT waits for the first's transaction and then does
// nothing), an exit by a lock on its key (record_journey_exit), and the clock only moves
// forward. Batches (the rollover index, `enters` flags) are one statement over arrays, in
// contact id order, so two nodes writing the same rows lock them in the same order.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "engine/model/phone.hpp"
#include "engine/store/postgres/arrays.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine::postgres {

namespace {

// Rows per statement of a batch: bounds the parameters' size, not the transaction.
constexpr std::size_t batch_rows = 10'000;

// A UTC day "YYYY-MM-DD" of the millisecond column `column`, as SQLite's strftime gives it.
std::string utc_day_sql(const std::string& column) {
  return "to_char(to_timestamp(" + column + " / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
}

}  // namespace

std::vector<bool> postgres_store::enter_journeys(const std::string& campaign,
                                                 const std::vector<journey_entry>& entries,
                                                 time_point at) {
  std::vector<bool> entered;
  atomically("enter journey", [&] {
    entered.assign(entries.size(), false);
    // One statement for the batch; ON CONFLICT skips an occurrence entered before, by another
    // node too (its uncommitted row is waited for, then skipped), and a repeat within the batch.
    // Rows go in key order, so two nodes entering the same contacts wait on each other in one
    // order and never deadlock.
    query q(*db_,
            "INSERT INTO journey_entries (campaign, contact_id, occurrence, entered_at) "
            "SELECT $1::text, e.contact_id, e.occurrence, $4 FROM unnest($2::bigint[], "
            "$3::text[]) AS e(contact_id, occurrence) ORDER BY e.contact_id, e.occurrence "
            "ON CONFLICT DO NOTHING RETURNING contact_id, occurrence");
    q.bind(1, campaign)
        .bind(2,
              postgres::array_literal(entries, [](const journey_entry& e) { return e.contact_id; }))
        .bind(3, postgres::array_literal(
                     entries,
                     [](const journey_entry& e) -> const std::string& { return e.occurrence; }))
        .bind(4, at);
    std::set<std::pair<std::int64_t, std::string>> stored;
    while (q.step()) stored.emplace(q.get_int(0), q.get_text(1));
    std::vector<new_message> messages;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      // The first of repeated entries in the batch is the one entered.
      if (stored.erase({entries[i].contact_id, entries[i].occurrence}) == 0) continue;
      entered[i] = true;
      messages.insert(messages.end(), entries[i].messages.begin(), entries[i].messages.end());
    }
    // The last entry is read from journey_entries (last_journey_entry): nothing else to note.
    if (!messages.empty()) enqueue(messages);
  });
  return entered;
}

std::optional<time_point> postgres_store::last_journey_entry(const std::string& campaign,
                                                             std::int64_t contact_id) {
  std::optional<time_point> out;
  atomically("read journey entry", [&] {
    query q(*db_,
            "SELECT max(entered_at) FROM journey_entries WHERE campaign = $1 AND "
            "contact_id = $2");
    q.bind(1, campaign).bind(2, contact_id);
    if (q.step()) out = q.get_opt_time(0);
  });
  return out;
}

std::vector<std::int64_t> postgres_store::journey_matching(const std::string& campaign) {
  std::vector<std::int64_t> out;
  atomically("read journey members", [&] {
    query q(*db_,
            "SELECT contact_id FROM journey_members WHERE campaign = $1 AND matching = 1 "
            "ORDER BY contact_id");
    q.bind(1, campaign);
    while (q.step()) out.push_back(q.get_int(0));
  });
  return out;
}

void postgres_store::set_journey_matching(const std::string& campaign,
                                          const std::vector<std::pair<std::int64_t, bool>>& flags) {
  if (flags.empty()) return;
  // By id, the last flag of a contact winning (as one upsert per row would leave it): one
  // statement may not update a row twice.
  std::map<std::int64_t, int> by_id;
  for (const auto& [id, matching] : flags) by_id[id] = matching ? 1 : 0;
  std::vector<std::pair<std::int64_t, int>> rows(by_id.begin(), by_id.end());
  atomically("update journey members", [&] {
    for (std::size_t at = 0; at < rows.size(); at += batch_rows) {
      std::vector<std::pair<std::int64_t, int>> chunk(
          rows.begin() + static_cast<long>(at),
          rows.begin() + static_cast<long>(std::min(rows.size(), at + batch_rows)));
      query(*db_,
            "INSERT INTO journey_members (campaign, contact_id, matching) "
            "SELECT $1::text, f.id, f.matching FROM unnest($2::bigint[], $3::int[]) AS f(id, "
            "matching) "
            "ON CONFLICT (campaign, contact_id) DO UPDATE SET matching = excluded.matching")
          .bind(1, campaign)
          .bind(2, postgres::array_literal(chunk, [](const auto& r) { return r.first; }))
          .bind(3, postgres::array_literal(chunk, [](const auto& r) { return r.second; }))
          .run();
    }
  });
}

void postgres_store::record_journey_exit(const std::string& campaign, std::int64_t contact_id,
                                         const std::string& reason, time_point at) {
  atomically("record journey exit", [&] {
    // Once, also when two nodes record it at once: the second waits on this (campaign, contact,
    // reason) lock until the first commits, then its NOT EXISTS (a new statement, a new
    // snapshot) sees the first's row. Not a unique index: erase_contact cuts a reason down to
    // its kind, which may leave two rows of one reason (two unreadable values, both counted).
    query(*db_,
          "SELECT pg_advisory_xact_lock(hashtextextended($1::text || E'\\x1f' || "
          "$2::text || E'\\x1f' || $3::text, 0))")
        .bind(1, campaign)
        .bind(2, std::to_string(contact_id))
        .bind(3, reason)
        .run();
    query(*db_,
          "INSERT INTO journey_exits (campaign, contact_id, reason, at) "
          "SELECT $1::text, $2::bigint, $3::text, $4::bigint WHERE NOT EXISTS (SELECT 1 FROM "
          "journey_exits WHERE "
          "campaign = $1 AND contact_id = $2 AND reason = $3)")
        .bind(1, campaign)
        .bind(2, contact_id)
        .bind(3, reason)
        .bind(4, at)
        .run();
  });
}

void postgres_store::set_journey_dates(const std::string& campaign,
                                       const std::vector<journey_date>& rows,
                                       const std::vector<std::int64_t>& removed) {
  if (rows.empty() && removed.empty()) return;
  // By id, a contact's last row winning; then the removals, as SQLite applies them.
  std::map<std::int64_t, const journey_date*> by_id;
  for (const auto& r : rows) by_id[r.contact_id] = &r;
  std::vector<const journey_date*> sorted;
  sorted.reserve(by_id.size());
  for (const auto& entry : by_id) sorted.push_back(entry.second);
  std::vector<std::int64_t> gone(removed);
  std::sort(gone.begin(), gone.end());
  atomically("index journey dates", [&] {
    for (std::size_t at = 0; at < sorted.size(); at += batch_rows) {
      std::vector<const journey_date*> chunk(
          sorted.begin() + static_cast<long>(at),
          sorted.begin() + static_cast<long>(std::min(sorted.size(), at + batch_rows)));
      query(*db_,
            "INSERT INTO journey_dates (campaign, contact_id, zone, month, day, date, "
            "next_check) SELECT $1::text, r.* FROM unnest($2::bigint[], $3::text[], $4::int[], "
            "$5::int[], $6::text[], $7::bigint[]) AS r "
            "ON CONFLICT (campaign, contact_id) DO UPDATE SET zone = excluded.zone, "
            "month = excluded.month, day = excluded.day, date = excluded.date, "
            "next_check = excluded.next_check")
          .bind(1, campaign)
          .bind(2, array_literal(chunk, [](const auto* r) { return r->contact_id; }))
          .bind(3,
                array_literal(chunk, [](const auto* r) -> const std::string& { return r->zone; }))
          .bind(4, array_literal(chunk, [](const auto* r) { return r->month; }))
          .bind(5, array_literal(chunk, [](const auto* r) { return r->day; }))
          .bind(6,
                array_literal(chunk, [](const auto* r) -> const std::string& { return r->date; }))
          .bind(7, array_literal(chunk,
                                 [](const auto* r) {
                                   return r->next_check ? std::optional<std::int64_t>(
                                                              postgres::to_ms(*r->next_check))
                                                        : std::nullopt;
                                 }))
          .run();
    }
    if (gone.empty()) return;
    query(*db_, "DELETE FROM journey_dates WHERE campaign = $1 AND contact_id = ANY($2::bigint[])")
        .bind(1, campaign)
        .bind(2, postgres::array_literal(gone))
        .run();
  });
}

std::vector<std::string> postgres_store::journey_zones(const std::string& campaign) {
  std::vector<std::string> out;
  atomically("read journey zones", [&] {
    // A skip scan of the (campaign, zone, ...) index in one statement: one probe per zone, not
    // one row per contact.
    query q(*db_,
            "WITH RECURSIVE z(zone) AS ("
            " (SELECT zone FROM journey_dates WHERE campaign = $1 ORDER BY zone LIMIT 1)"
            " UNION ALL"
            " SELECT (SELECT j.zone FROM journey_dates j WHERE j.campaign = $1 AND j.zone > z.zone"
            "  ORDER BY j.zone LIMIT 1) FROM z WHERE z.zone IS NOT NULL)"
            " SELECT zone FROM z WHERE zone IS NOT NULL");
    q.bind(1, campaign);
    while (q.step()) out.push_back(q.get_text(0));
  });
  return out;
}

void postgres_store::for_each_journey_contact(const journey_query& jq,
                                              const std::function<void(const contact&)>& fn) {
  atomically("read journey contacts", [&] {
    std::string sql = std::string("SELECT ") + postgres::contact_columns +
                      " FROM journey_dates j JOIN contacts k ON k.id = j.contact_id "
                      "WHERE j.campaign = $1 AND j.zone = $2";
    if (jq.due_by) {
      sql += " AND j.next_check IS NOT NULL AND j.next_check <= $3";
    } else if (!jq.date.empty()) {
      sql += " AND j.date = $3";
    } else if (!jq.days.empty()) {
      // The days as one array parameter: one prepared statement whatever the list.
      sql += jq.month > 0 ? " AND j.month = $3 AND j.day = ANY($4::int[])"
                          : " AND j.month > 0 AND j.day = ANY($3::int[])";
    }
    // No ORDER BY: the caller takes the contacts in any order.
    query q(*db_, sql);
    q.bind(1, jq.campaign).bind(2, jq.zone);
    if (jq.due_by) {
      q.bind(3, *jq.due_by);
    } else if (!jq.date.empty()) {
      q.bind(3, jq.date);
    } else if (!jq.days.empty()) {
      int next = 3;
      if (jq.month > 0) q.bind(next++, jq.month);
      q.bind(next, postgres::array_literal(jq.days));
    }
    postgres::for_each_contact_row(q, fn);
  });
}

std::optional<time_point> postgres_store::journey_clock(const std::string& campaign) {
  std::optional<time_point> out;
  atomically("read journey clock", [&] {
    query q(*db_, "SELECT evaluated_through FROM journey_clock WHERE campaign = $1");
    q.bind(1, campaign);
    if (q.step()) out = q.get_time(0);
  });
  return out;
}

void postgres_store::set_journey_clock(const std::string& campaign, time_point through) {
  atomically("set journey clock", [&] {
    // Never backwards: two nodes that evaluated through different instants leave the later.
    query(*db_,
          "INSERT INTO journey_clock (campaign, evaluated_through) VALUES ($1, $2) "
          "ON CONFLICT (campaign) DO UPDATE SET evaluated_through = "
          "GREATEST(journey_clock.evaluated_through, excluded.evaluated_through)")
        .bind(1, campaign)
        .bind(2, through)
        .run();
  });
}

journey_stats postgres_store::journey_statistics(const std::string& campaign, time_point now) {
  journey_stats out;
  atomically("journey statistics", [&] {
    auto day_start = std::chrono::floor<std::chrono::days>(now);
    {
      query q(*db_,
              "SELECT count(*), count(*) FILTER (WHERE entered_at >= $2), "
              "count(*) FILTER (WHERE entered_at >= $3) "
              "FROM journey_entries WHERE campaign = $1");
      q.bind(1, campaign).bind(2, time_point(day_start)).bind(3, now - std::chrono::days(7));
      if (q.step()) {
        out.entries_total = q.get_int(0);
        out.entries_today = q.get_int(1);
        out.entries_7d = q.get_int(2);
      }
    }
    {
      query q(*db_, "SELECT count(*) FROM journey_dates WHERE campaign = $1");
      q.bind(1, campaign);
      if (q.step()) out.indexed = q.get_int(0);
    }
    {
      query q(*db_,
              "SELECT step, count(*) FROM messages WHERE campaign = $1 AND state IN "
              "('scheduled', 'deferred', 'retry', 'leased', 'submitting') GROUP BY step");
      q.bind(1, campaign);
      while (q.step()) out.in_progress[q.get_text(0)] = q.get_int(1);
    }
    // ILIKE: SQLite's LIKE ignores ASCII case.
    {
      // Why recipients left before the end: a suppressed message's reason, by kind.
      query q(*db_,
              "SELECT CASE WHEN reason ILIKE 'stop_on%' THEN 'stop_on' "
              "WHEN reason ILIKE 'opted out%' THEN 'opt-out' "
              "WHEN reason ILIKE 'holdout%' THEN 'holdout' "
              "WHEN reason ILIKE '%per %' THEN 'cap' ELSE reason END, "
              "count(DISTINCT contact_id) "
              "FROM messages WHERE campaign = $1 AND state = 'suppressed' GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.exits[q.get_text(0)] += q.get_int(1);
    }
    {
      query q(*db_,
              "SELECT CASE WHEN reason ILIKE 'unreadable %' THEN 'unreadable date' ELSE reason "
              "END, count(*) FROM journey_exits WHERE campaign = $1 GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.exits[q.get_text(0)] += q.get_int(1);
    }
    {
      query q(*db_, "SELECT " + utc_day_sql("entered_at") +
                        ", count(*) FROM journey_entries WHERE campaign = $1 GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.entries_by_day[q.get_text(0)] = q.get_int(1);
    }
    {
      // Exits by day: journey_exits, and suppressed messages (stop_on, opt-out, cap) on the day
      // they were suppressed.
      query q(*db_, "SELECT " + utc_day_sql("at") +
                        ", count(*) FROM journey_exits WHERE campaign = $1 GROUP BY 1 "
                        "UNION ALL SELECT " +
                        utc_day_sql("final_at") +
                        ", count(DISTINCT contact_id) FROM messages WHERE campaign = $1 AND "
                        "state = 'suppressed' AND reason <> 'holdout' AND final_at IS NOT NULL "
                        "GROUP BY 1");
      q.bind(1, campaign);
      while (q.step()) out.exits_by_day[q.get_text(0)] += q.get_int(1);
    }
    {
      query q(*db_,
              "SELECT k.phone, x.reason FROM journey_exits x JOIN contacts k ON k.id = "
              "x.contact_id WHERE x.campaign = $1 AND x.reason ILIKE 'unreadable %' "
              "ORDER BY x.at LIMIT 5");
      q.bind(1, campaign);
      while (q.step()) out.skipped.emplace_back(mask_phone(q.get_text(0)), q.get_text(1));
    }
  });
  return out;
}

std::vector<contact> postgres_store::contacts_by_id(const std::vector<std::int64_t>& ids) {
  std::vector<contact> out;
  if (ids.empty()) return out;
  atomically("read contacts", [&] {
    query q(*db_, std::string("SELECT ") + postgres::contact_columns +
                      " FROM contacts k WHERE k.id = ANY($1::bigint[]) AND " +
                      postgres::live_contact_sql + " ORDER BY k.id");
    q.bind(1, postgres::array_literal(ids));
    while (q.step()) {
      try {
        out.push_back(postgres::read_contact(q, 0));
      } catch (const store_error& e) {
        spdlog::warn("skipped {}", e.what());
      }
    }
  });
  return out;
}

}  // namespace pigeon::engine::postgres
