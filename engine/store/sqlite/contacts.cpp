// sqlite_store: managing contacts one by one (`pigeon contacts show/export/delete`): opt-out
// state, the export's summary, and erasure for privacy requests.
#include <algorithm>
#include <string_view>
#include <vector>

#include "engine/store/json_keys.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::sqlite {

std::optional<store::opt_out_record> sqlite_store::opt_out_state(std::int64_t contact_id) {
  std::optional<opt_out_record> out;
  atomically("read opt-out", [&] {
    query q(*db_,
            "SELECT opted_out_at, opt_out_source FROM contacts "
            "WHERE id = ?1 AND opted_out_at IS NOT NULL");
    q.bind(1, contact_id);
    if (q.step()) out = opt_out_record{q.get_time(0), q.get_text(1)};
  });
  return out;
}

static_assert(std::string_view(store::erased_phone_prefix) == "erased:",
              "rows.hpp live_contact_sql spells the prefix out");

store::contacts_summary sqlite_store::summarize_contacts() {
  contacts_summary out;
  atomically("summarize contacts", [&] {
    query count(*db_,
                std::string("SELECT count(*) FROM contacts k WHERE ") + sqlite::live_contact_sql);
    if (count.step()) out.count = count.get_int(0);
    // The names are read off the stored JSON text (an object of scalars, written by
    // object_to_json) without decoding it: json_each with DISTINCT, or decoding every object,
    // took as long as the export's own scan. A key with an escape is decoded properly.
    query rows(*db_, std::string("SELECT k.attributes FROM contacts k WHERE k.attributes <> '{}' "
                                 "AND ") +
                         sqlite::live_contact_sql);
    json_keys::name_set names;
    while (rows.step()) names.add_keys_of(rows.get_view(0));
    out.attributes = names.sorted();
  });
  return out;
}

namespace {

// Restores the connection's secure_delete setting when the erasure is over.
class secure_delete_scope {
 public:
  explicit secure_delete_scope(sqlite::database& db)
      : db_(db), previous_(db.query_int("PRAGMA secure_delete")) {
    db_.exec("PRAGMA secure_delete = ON");
  }
  ~secure_delete_scope() {
    try {
      db_.exec("PRAGMA secure_delete = " + std::to_string(previous_));
    } catch (const store_error&) {  // a setting of this connection only: nothing to undo
    }
  }
  secure_delete_scope(const secure_delete_scope&) = delete;
  secure_delete_scope& operator=(const secure_delete_scope&) = delete;

 private:
  sqlite::database& db_;
  std::int64_t previous_;
};

}  // namespace

store::erase_result sqlite_store::erase_contact(const std::string& phone, time_point now) {
  erase_result out;
  {
    secure_delete_scope scope(*db_);
    atomically("erase contact", [&] {
      query find(*db_, "SELECT id FROM contacts WHERE phone = ?1");
      find.bind(1, phone);
      if (!find.step()) return;
      out.found = true;
      out.contact_id = find.get_int(0);
      query busy(*db_,
                 "SELECT id, campaign, step, state FROM messages WHERE contact_id = ?1 AND "
                 "(state = 'submitting' OR (state = 'retry' AND maybe_duplicate = 1)) ORDER BY id");
      busy.bind(1, out.contact_id);
      while (busy.step())
        out.refused.push_back({busy.get_int(0), busy.get_text(1), busy.get_text(2),
                               sqlite::read_state(busy.get_text(3))});
      if (!out.refused.empty()) return;

      // Binds ?1 the contact, ?2 now, ?3 the phone (E.164) and ?4 its digits (carriers quote
      // either in error texts), up to the highest one the statement uses (`params`).
      auto run = [&](const char* sql, int params) {
        query q(*db_, sql);
        q.bind(1, out.contact_id);
        if (params >= 2) q.bind(2, now);
        if (params >= 4) q.bind(3, phone).bind(4, phone.substr(1));
        q.run();
        return db_->changes();
      };
      out.suppressed =
          run("UPDATE messages SET state = 'suppressed', reason = 'contact erased', final_at = ?2, "
              "lease_owner = NULL, lease_until = NULL, updated_at = ?2 WHERE contact_id = ?1 AND "
              "state IN ('scheduled', 'deferred', 'retry', 'leased')",
              2);
      out.scrubbed = run(
          "UPDATE messages SET body = '', direct_text = CASE WHEN direct_text IS NULL THEN NULL "
          "ELSE '' END, reason = replace(replace(reason, ?3, '[erased]'), ?4, '[erased]'), "
          "updated_at = ?2 WHERE contact_id = ?1",
          4);
      run("UPDATE send_ledger SET reason = replace(replace(reason, ?3, '[erased]'), ?4, "
          "'[erased]') WHERE contact_id = ?1 AND instr(reason, ?4) > 0",
          4);
      run("UPDATE receipts SET error_text = replace(replace(error_text, ?3, '[erased]'), ?4, "
          "'[erased]') WHERE message_id IN (SELECT id FROM messages WHERE contact_id = ?1) "
          "AND instr(error_text, ?4) > 0",
          4);
      out.replies = run("DELETE FROM replies WHERE contact_id = ?1 OR phone = ?3 OR phone = ?4", 4);
      out.events = run("DELETE FROM events WHERE contact_id = ?1", 1);
      run("DELETE FROM contact_preferences WHERE contact_id = ?1", 1);
      // Lifecycle journeys (migration 13): a message's occurrence (an anchor such as this year's
      // birthday) and context (what its templates read, an event's properties) go; entries and
      // exits stay for the counts, without the anchor or the attribute value a reason quotes;
      // the per-contact state (membership, zone and trigger date) goes, so no journey reads
      // the tombstone again.
      run("UPDATE messages SET occurrence = 'erased:' || id, context = NULL "
          "WHERE contact_id = ?1 AND (occurrence <> '' OR context IS NOT NULL)",
          1);
      run("DELETE FROM journey_dates WHERE contact_id = ?1", 1);
      run("DELETE FROM journey_members WHERE contact_id = ?1", 1);
      run("UPDATE journey_exits SET reason = substr(reason, 1, instr(reason, ':') - 1) "
          "WHERE contact_id = ?1 AND instr(reason, ':') > 0",
          1);
      {
        std::vector<std::pair<std::string, std::string>> entries;  // campaign, occurrence
        query q(*db_, "SELECT campaign, occurrence FROM journey_entries WHERE contact_id = ?1");
        q.bind(1, out.contact_id);
        while (q.step()) entries.emplace_back(q.get_text(0), q.get_text(1));
        for (std::size_t i = 0; i < entries.size(); ++i)
          query(*db_,
                "UPDATE journey_entries SET occurrence = ?4 WHERE contact_id = ?1 AND "
                "campaign = ?2 AND occurrence = ?3")
              .bind(1, out.contact_id)
              .bind(2, entries[i].first)
              .bind(3, entries[i].second)
              .bind(4, "erased:" + std::to_string(i + 1))
              .run();
      }
      query tomb(*db_, std::string("UPDATE contacts SET phone = '") + erased_phone_prefix +
                           "' || id, tags = '[]', attributes = '{}', tz = '', opted_out_at = NULL, "
                           "opt_out_source = '', updated_at = ?2 WHERE id = ?1");
      tomb.bind(1, out.contact_id).bind(2, now).run();
    });
  }
  // The committed pages replace the old ones in the file; TRUNCATE then empties the WAL, whose
  // earlier frames still hold the old pages. A reader (a running engine) can hold it back.
  if (out.found && out.refused.empty() && !db_->in_transaction()) {
    query cp(*db_, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (cp.step()) out.wal_cleared = cp.get_int(0) == 0;
  }
  return out;
}

}  // namespace pigeon::engine::sqlite
