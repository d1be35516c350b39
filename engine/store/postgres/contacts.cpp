// postgres_store: managing contacts one by one (`pigeon contacts show/export/delete`): opt-out
// state and erasure for privacy requests (the export's summary is report.cpp's).
#include <spdlog/spdlog.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine::postgres {

std::optional<postgres_store::opt_out_record> postgres_store::opt_out_state(
    std::int64_t contact_id) {
  std::optional<opt_out_record> out;
  atomically("read opt-out", [&] {
    query q(*db_,
            "SELECT opted_out_at, opt_out_source FROM contacts "
            "WHERE id = $1 AND opted_out_at IS NOT NULL");
    q.bind(1, contact_id);
    if (q.step()) out = opt_out_record{q.get_time(0), q.get_text(1)};
  });
  return out;
}

static_assert(std::string_view(store::erased_phone_prefix) == "erased:",
              "rows.hpp live_contact_sql spells the prefix out");

postgres_store::erase_result postgres_store::erase_contact(const std::string& phone,
                                                           time_point now) {
  erase_result out;
  atomically("erase contact", [&] {
    // The contact's row is locked first (the queue's lock order, inbound.cpp): a node deciding
    // a send for this contact locks it before moving a message to `submitting`, so the check
    // for unsettled messages below cannot miss one that another node is marking meanwhile.
    query find(*db_, "SELECT id FROM contacts WHERE phone = $1 FOR UPDATE");
    find.bind(1, phone);
    if (!find.step()) return;
    out.found = true;
    out.contact_id = find.get_int(0);
    query busy(*db_,
               "SELECT id, campaign, step, state FROM messages WHERE contact_id = $1 AND "
               "(state = 'submitting' OR (state = 'retry' AND maybe_duplicate = 1)) ORDER BY id");
    busy.bind(1, out.contact_id);
    while (busy.step())
      out.refused.push_back({busy.get_int(0), busy.get_text(1), busy.get_text(2),
                             postgres::read_state(busy.get_text(3))});
    if (!out.refused.empty()) return;

    // Runs `sql` with $1 the contact and `binds` as $2, $3, ...; returns the rows it touched.
    auto run = [&](const char* sql, const auto&... binds) {
      query q(*db_, sql);
      q.bind(1, out.contact_id);
      int index = 1;
      ((q.bind(++index, binds)), ...);
      q.run();
      return q.changes();
    };
    // Carriers quote the phone as E.164 or as its digits in error texts: both are replaced.
    const std::string digits = phone.substr(1);
    out.suppressed =
        run("UPDATE messages SET state = 'suppressed', reason = 'contact erased', final_at = $2, "
            "lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE contact_id = $1 AND "
            "state IN ('scheduled', 'deferred', 'retry', 'leased')",
            now);
    out.scrubbed =
        run("UPDATE messages SET body = '', direct_text = CASE WHEN direct_text IS NULL THEN NULL "
            "ELSE '' END, reason = replace(replace(reason, $3, '[erased]'), $4, '[erased]'), "
            "updated_at = $2 WHERE contact_id = $1",
            now, phone, digits);
    run("UPDATE send_ledger SET reason = replace(replace(reason, $2, '[erased]'), $3, "
        "'[erased]') WHERE contact_id = $1 AND strpos(reason, $3) > 0",
        phone, digits);
    run("UPDATE receipts SET error_text = replace(replace(error_text, $2, '[erased]'), $3, "
        "'[erased]') WHERE message_id IN (SELECT id FROM messages WHERE contact_id = $1) "
        "AND strpos(error_text, $3) > 0",
        phone, digits);
    out.replies =
        run("DELETE FROM replies WHERE contact_id = $1 OR phone = $2 OR phone = $3", phone, digits);
    out.events = run("DELETE FROM events WHERE contact_id = $1");
    run("DELETE FROM contact_preferences WHERE contact_id = $1");
    // Lifecycle journeys: a message's occurrence (an anchor such as this year's birthday) and
    // context (what its templates read, an event's properties) go; entries and exits stay for
    // the counts, without the anchor or the attribute value a reason quotes; the per-contact
    // state (membership, zone and trigger date) goes, so no journey reads the tombstone again.
    run("UPDATE messages SET occurrence = 'erased:' || id, context = NULL "
        "WHERE contact_id = $1 AND (occurrence <> '' OR context IS NOT NULL)");
    run("DELETE FROM journey_dates WHERE contact_id = $1");
    run("DELETE FROM journey_members WHERE contact_id = $1");
    run("UPDATE journey_exits SET reason = substr(reason, 1, strpos(reason, ':') - 1) "
        "WHERE contact_id = $1 AND strpos(reason, ':') > 0");
    {
      std::vector<std::pair<std::string, std::string>> entries;  // campaign, occurrence
      query q(*db_,
              "SELECT campaign, occurrence FROM journey_entries WHERE contact_id = $1 "
              "ORDER BY campaign, occurrence");
      q.bind(1, out.contact_id);
      while (q.step()) entries.emplace_back(q.get_text(0), q.get_text(1));
      for (std::size_t i = 0; i < entries.size(); ++i)
        query(*db_,
              "UPDATE journey_entries SET occurrence = $4 WHERE contact_id = $1 AND "
              "campaign = $2 AND occurrence = $3")
            .bind(1, out.contact_id)
            .bind(2, entries[i].first)
            .bind(3, entries[i].second)
            .bind(4, "erased:" + std::to_string(i + 1))
            .run();
    }
    query tomb(*db_, std::string("UPDATE contacts SET phone = '") + erased_phone_prefix +
                         "' || id, tags = '[]', attributes = '{}', tz = '', opted_out_at = NULL, "
                         "opt_out_source = '', updated_at = $2 WHERE id = $1");
    tomb.bind(1, out.contact_id).bind(2, now).run();
  });
  if (!out.found || !out.refused.empty()) return out;
  // PostgreSQL has no secure_delete: an UPDATE or DELETE leaves the old row version (the phone,
  // texts, replies) in the table until a vacuum prunes it. Vacuuming the tables the erasure
  // touched prunes them now; contacts' with its index cleanup forced, as its unique index holds
  // the phone (the other tables' indexes hold no personal text; a forced cleanup would scan the
  // whole queue's indexes). VACUUM runs outside a transaction only: inside one, autovacuum
  // prunes later. The server's write-ahead log keeps the old rows until its checkpoints
  // recycle the segments: wal_cleared is false, as for a SQLite WAL a reader held back.
  out.wal_cleared = false;
  if (!db_->in_transaction()) {
    try {
      db_->exec("VACUUM (INDEX_CLEANUP ON) contacts");
      db_->exec(
          "VACUUM messages, send_ledger, receipts, replies, events, contact_preferences, "
          "journey_entries, journey_members, journey_exits, journey_dates");
    } catch (const store_error& e) {
      // Pruned by autovacuum later; the erasure itself is committed.
      spdlog::warn("contact erased; vacuuming after it failed (autovacuum prunes later): {}",
                   e.what());
    }
  }
  return out;
}

}  // namespace pigeon::engine::postgres
