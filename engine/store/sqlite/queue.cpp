// sqlite_store: the message queue, the send ledger and observation.
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "engine/store/queue_rows.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::sqlite {

namespace {

// Claimable: waiting states due now that no claim holds (claims live in memory: claim_table.hpp;
// an old binary's `leased` rows are released by recover_after_crash before anything is claimed).
// A read: the rows stay as they are. It walks the messages_claimable index in (due_at, id) order
// and stops after `limit` rows instead of sorting the whole backlog; held rows are skipped there.
const std::string claim_sql =
    std::string(
        "SELECT m.id, m.campaign, m.state, m.due_at, m.variant FROM messages m "
        "JOIN campaign_heads h ON h.name = m.campaign WHERE ") +
    sqlite::claimable_sql +
    " AND m.due_at <= ?1 AND h.state = 'active' AND NOT pigeon_claimed(m.id, ?1) "
    "ORDER BY m.due_at, m.id LIMIT ?2";

// Everything the dispatcher needs for the claimed ids, in one statement: the template comes
// from the campaign's current version (LEFT JOIN: it may have been removed since enqueue).
const std::string claimed_details_sql = columns::claimed_select_sql() +
                                        "WHERE m.id IN (SELECT value FROM json_each(?1)) AND " +
                                        sqlite::claimable_sql +
                                        " "
                                        "ORDER BY m.due_at, m.id";

// One INSERT of `rows` messages: parameter ?1 is the time stamp, then 9 per row (campaign, step,
// variant, contact, due, expires, suppressed reason, occurrence, context). Several rows per
// statement open the table's cursors once per statement instead of once per message (apply:
// BENCHMARKS.md).
std::string enqueue_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO messages (campaign, step, variant, contact_id, state, due_at, expires_at, "
      "created_at, updated_at, reason, final_at, occurrence, context) VALUES ";
  for (std::size_t r = 0; r < rows; ++r) {
    auto p = [&](int k) { return "?" + std::to_string(2 + 9 * r + k); };
    sql += (r ? ", (" : "(") + p(0) + ", " + p(1) + ", " + p(2) + ", " + p(3) + ", CASE WHEN " +
           p(6) + " = '' THEN 'scheduled' ELSE 'suppressed' END, " + p(4) + ", " + p(5) +
           ", ?1, ?1, " + p(6) + ", CASE WHEN " + p(6) + " = '' THEN NULL ELSE ?1 END, " + p(7) +
           ", " + p(8) + ")";
  }
  return sql + " ON CONFLICT (campaign, step, contact_id, occurrence) DO NOTHING";
}

constexpr std::size_t enqueue_rows_per_insert = 256;

// A message whose intent did not commit (mark_submitting failed: nothing was sent) is held by its
// claim this long, then claimable again: not the whole lease (the 5 minutes a `leased` row
// waited), and not at once (a full disk would have it claimed and failed in a tight loop).
constexpr std::int64_t failed_intent_hold_ms = 30'000;

}  // namespace

std::size_t sqlite_store::enqueue(const std::vector<new_message>& messages) {
  static const std::string one_sql = enqueue_sql(1);
  static const std::string many_sql = enqueue_sql(enqueue_rows_per_insert);
  std::size_t added = 0;
  atomically("enqueue", [&] {
    auto now = sqlite::wall_clock_ms();
    auto bind = [&](query& q, int base, const new_message& m) {
      q.bind(base, m.campaign)
          .bind(base + 1, m.step)
          .bind(base + 2, m.variant)
          .bind(base + 3, m.contact_id)
          .bind(base + 4, m.due)
          .bind(base + 5, m.expires)
          .bind(base + 6, m.suppressed_reason)
          .bind(base + 7, m.occurrence);
      if (m.context.empty())
        q.bind(base + 8, std::nullopt);
      else
        q.bind(base + 8, m.context);
    };
    std::size_t i = 0;
    // An SQLite built with a lower limit on parameters (before 3.32: 999) inserts one by one.
    const bool many = messages.size() >= enqueue_rows_per_insert &&
                      sqlite3_limit(db_->handle(), SQLITE_LIMIT_VARIABLE_NUMBER, -1) >
                          static_cast<int>(9 * enqueue_rows_per_insert);
    if (many) {
      query q(*db_, many_sql);
      for (; messages.size() - i >= enqueue_rows_per_insert; q.reset()) {
        q.bind(1, now);
        for (std::size_t r = 0; r < enqueue_rows_per_insert; ++r, ++i)
          bind(q, static_cast<int>(2 + 9 * r), messages[i]);
        q.run();
        added += static_cast<std::size_t>(db_->changes());
      }
    }
    if (i == messages.size()) return;
    query q(*db_, one_sql);
    for (; i < messages.size(); ++i, q.reset()) {
      q.bind(1, now);
      bind(q, 2, messages[i]);
      q.run();
      added += static_cast<std::size_t>(db_->changes());
    }
  });
  return added;
}

std::vector<claimed_message> sqlite_store::claim_due(time_point now, int limit,
                                                     time_point lease_until,
                                                     const std::string& owner) {
  std::vector<claimed_message> out;
  if (limit <= 0) return out;
  atomically("claim due messages", [&] {
    out.clear();
    std::string ids = "[";
    {
      query q(*db_, claim_sql);
      q.bind(1, now).bind(2, limit);
      while (q.step()) {
        if (ids.size() > 1) ids += ',';
        ids += std::to_string(q.get_int(0));
        claims_.hold(q.get_int(0), {owner, sqlite::to_ms(lease_until), q.get_text(1), q.get_text(2),
                                    q.get_int(3), q.get_text(4)});
      }
    }
    ids += ']';
    if (ids == "[]") return;
    // A contact who opted out after these were queued: suppressed here, never handed out.
    std::vector<std::int64_t> opted_out;
    // A row that does not decode (written by an older pigeon): that message fails with the
    // reason, the rest of the batch goes on; the claim never wedges on it.
    std::vector<std::pair<std::int64_t, std::string>> unreadable;
    query q(*db_, claimed_details_sql);
    q.bind(1, ids);
    while (q.step()) {
      if (q.get_int(24) != 0) {
        opted_out.push_back(q.get_int(0));
        continue;
      }
      try {
        out.push_back(columns::read_claimed_row(q));
      } catch (const store_error& e) {
        spdlog::warn("message {} failed: {}", q.get_int(0), e.what());
        unreadable.emplace_back(q.get_int(0), e.what());
      }
    }
    for (auto id : opted_out) {
      claims_.drop(id);
      suppress_opted_out(id, now);
    }
    for (const auto& [id, reason] : unreadable) {
      claims_.drop(id);
      query(*db_,
            "UPDATE messages SET state = 'failed', reason = ?2, final_at = ?3, updated_at = ?3 "
            "WHERE id = ?1 AND state IN ('scheduled', 'retry', 'deferred')")
          .bind(1, id)
          .bind(2, reason)
          .bind(3, now)
          .run();
    }
  });
  return out;
}

std::vector<std::int64_t> sqlite_store::mark_submitting(const std::vector<submit_intent>& intents) {
  std::vector<std::int64_t> marked;
  atomically("mark submitting", [&] {
    marked.clear();
    marked.reserve(intents.size());
    if (intents.empty()) return;
    for (const auto& in : intents) {
      // Only a message a claim holds (claim_table.hpp), and only once: marked or not, the claim
      // ends here (an unmarked message stays in its waiting state for the next claim).
      const auto* held = claims_.find(in.message_id);
      if (!held) continue;
      const auto claimed = *held;
      claims_.drop(in.message_id, sqlite::to_ms(in.at) + failed_intent_hold_ms);
      // One read for the checks, the policy and the intent; the UPDATE and INSERT below then
      // bind what it read (same transaction) instead of re-reading it in subqueries.
      auto ctx = read_submit_context(in.message_id);
      if (!ctx) continue;
      // Opted out since the claim: suppressed, never sent.
      if (ctx->opted_out && suppress_opted_out(in.message_id, intents.front().at)) continue;
      // Cancelled, suppressed or finished since the claim: leave it. Paused since the claim:
      // leave it too, it waits in the queue for when the campaign resumes.
      if (ctx->state != claimed.state || ctx->head_state != "active") continue;
      if (auto verdict = policy_verdict(in, *ctx)) {
        record_outcomes({*verdict});
        continue;
      }
      const int attempt = ctx->attempts + 1;
      static const std::string mark =
          "UPDATE messages SET state = 'submitting', attempts = ?6, provider = ?2, body = ?3, "
          "segments = ?4, updated_at = ?5, rendered_version = ?7 "
          "WHERE id = ?1 AND state = ?8 AND due_at = ?9 AND variant = ?10";
      query q(*db_, mark);
      q.bind(1, in.message_id).bind(2, in.provider).bind(3, in.body).bind(4, in.segments);
      q.bind(5, in.at).bind(6, attempt).bind(7, ctx->head_version);
      q.bind(8, claimed.state).bind(9, claimed.due_ms).bind(10, claimed.variant);
      q.run();
      // Moved since the claim (an A/B decision switched its variant or released it with a new
      // due time): not sent from this claim; the next claim reads it as it is now.
      if (db_->changes() == 0) continue;
      marked.push_back(in.message_id);
      static const std::string ledger =
          "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, "
          "outcome, simulated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)";
      query(*db_, ledger)
          .bind(1, in.message_id)
          .bind(2, ctx->contact_id)
          .bind(3, ctx->campaign)
          .bind(4, attempt)
          .bind(5, in.provider)
          .bind(6, in.at)
          .bind(7, std::int64_t{simulated_sends_ ? 1 : 0})
          .run();
      pending_ledger_[in.message_id] = db_->last_insert_rowid();
    }
  });
  return marked;
}

void sqlite_store::record_outcomes(const std::vector<send_outcome>& outcomes) {
  // may_apply() in SQL: final states never change; a submitted message only moves forward
  // (a DLR, or a repeated submitted carrying the carrier id). One statement per message, no
  // read first.
  static const std::string update_message =
      "UPDATE messages SET state = ?2, "
      "provider = CASE WHEN ?3 <> '' THEN ?3 ELSE provider END, "
      "carrier_id = CASE WHEN ?4 <> '' THEN ?4 ELSE carrier_id END, reason = ?5, "
      "due_at = CASE WHEN ?6 THEN ?7 ELSE due_at END, "
      "sent_at = CASE WHEN ?2 = 'submitted' THEN ?8 ELSE sent_at END, "
      "final_at = CASE WHEN ?9 THEN ?8 ELSE final_at END, "
      "lease_owner = NULL, lease_until = NULL, updated_at = ?8 WHERE id = ?1 AND " +
      sqlite::not_final_sql() + " AND (state <> 'submitted' OR ?2 = 'submitted' OR ?9)";
  // The ledger records what happened to the attempt even when the message itself no longer
  // changes (e.g. cancelled while the request was in flight): caps count real sends.
  // pending takes any outcome; submitted and unknown (crash) only carrier verdicts.
  static const std::string ledger_set =
      "UPDATE send_ledger SET outcome = ?2, "
      "carrier_id = CASE WHEN ?3 <> '' THEN ?3 ELSE carrier_id END, reason = ?4, "
      "completed_at = coalesce(completed_at, ?6) ";
  static const std::string ledger_verdict =
      " AND (outcome = 'pending' OR (?5 AND outcome IN ('submitted', 'unknown')))";
  // The attempt's row: by the rowid mark_submitting kept, when it still belongs to the message
  // (else, e.g. after a rollback or for a verdict without a new attempt, the latest row).
  static const std::string update_ledger_row =
      ledger_set + "WHERE id = ?7 AND message_id = ?1" + ledger_verdict;
  static const std::string update_ledger =
      ledger_set + "WHERE id = (SELECT max(id) FROM send_ledger WHERE message_id = ?1)" +
      ledger_verdict;
  static const std::string contact_of = "SELECT contact_id FROM messages WHERE id = ?1";
  atomically("record outcomes", [&] {
    for (const auto& o : outcomes) {
      claims_.drop(o.message_id);  // an outcome ends the claim, whatever it is
      const auto state = to_string(o.state);
      bool waits = o.state == message_state::retry || o.state == message_state::deferred;
      query(*db_, update_message)
          .bind(1, o.message_id)
          .bind(2, state)
          .bind(3, o.provider)
          .bind(4, o.carrier_id)
          .bind(5, o.reason)
          .bind(6, waits ? 1 : 0)
          .bind(7, o.next_due.value_or(o.at))
          .bind(8, o.at)
          .bind(9, is_final(o.state) ? 1 : 0)
          .run();
      auto update_attempt = [&](std::optional<std::int64_t> row) {
        query q(*db_, row ? update_ledger_row : update_ledger);
        q.bind(1, o.message_id).bind(2, state).bind(3, o.carrier_id).bind(4, o.reason);
        q.bind(5, columns::is_carrier_verdict(o.state) ? 1 : 0).bind(6, o.at);
        if (row) q.bind(7, *row);
        q.run();
        return db_->changes() > 0;
      };
      bool done = false;
      if (auto kept = pending_ledger_.find(o.message_id); kept != pending_ledger_.end()) {
        done = update_attempt(kept->second);
        pending_ledger_.erase(kept);
      }
      if (!done) update_attempt(std::nullopt);
      // The carrier says the recipient opted out with it: record it like a STOP.
      if (o.recipient_opted_out) {
        query q(*db_, contact_of);
        q.bind(1, o.message_id);
        if (q.step()) opt_out(q.get_int(0), "carrier: " + o.reason, o.at);
      }
    }
  });
}

std::pair<std::size_t, std::size_t> sqlite_store::recover_after_crash(
    time_point now, std::chrono::milliseconds reconcile_grace) {
  std::pair<std::size_t, std::size_t> counts{0, 0};
  atomically("recover after crash", [&] {
    query(*db_,
          "UPDATE messages SET state = 'scheduled', lease_owner = NULL, lease_until = NULL, "
          "updated_at = ?1 WHERE id IN (" +
              sqlite::ids_in_state_sql("leased") + ")")
        .bind(1, now)
        .run();
    // Rows an older pigeon leased, and claims this store still holds (claims of a dead process
    // died with it: their rows never left their waiting state).
    counts.first = static_cast<std::size_t>(db_->changes());
    counts.first += claims_.drop_all();
    pending_ledger_.clear();
    query(*db_,
          "UPDATE send_ledger SET outcome = 'unknown', reason = 'engine stopped mid-submit' "
          "WHERE outcome = 'pending' AND message_id IN (" +
              sqlite::ids_in_state_sql("submitting") + ")")
        .run();
    query(*db_,
          "UPDATE messages SET state = 'retry', due_at = ?2, maybe_duplicate = 1, "
          "reason = 'outcome unknown: engine stopped mid-submit', lease_owner = NULL, "
          "lease_until = NULL, updated_at = ?1 WHERE id IN (" +
              sqlite::ids_in_state_sql("submitting") + ")")
        .bind(1, now)
        .bind(2, now + reconcile_grace)
        .run();
    counts.second = static_cast<std::size_t>(db_->changes());
  });
  return counts;
}

std::optional<time_point> sqlite_store::next_due() {
  std::optional<time_point> due;
  atomically("find next due", [&] {
    // Held by a claim, expired or not, is not waiting to be claimed (as a leased row was not).
    query q(*db_, std::string("SELECT min(m.due_at) FROM messages m JOIN campaign_heads h "
                              "ON h.name = m.campaign WHERE ") +
                      sqlite::claimable_sql +
                      " AND h.state = 'active' AND NOT pigeon_claimed(m.id, ?1)");
    q.bind(1, std::numeric_limits<std::int64_t>::min());
    if (q.step()) due = q.get_opt_time(0);
  });
  return due;
}

std::int64_t sqlite_store::count_pending() {
  std::int64_t n = 0;
  atomically("count pending", [&] {
    n = db_->query_int(
        "SELECT count(*) FROM messages WHERE state <> 'submitted' AND state NOT IN (" +
        sqlite::final_states_sql() + ")");
  });
  return n;
}

void sqlite_store::heartbeat(const std::string& owner, time_point now) {
  atomically("heartbeat", [&] {
    query(*db_,
          "INSERT INTO engine_heartbeat (owner, pid, at) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (owner) DO UPDATE SET pid = excluded.pid, at = excluded.at, "
          "stopped_at = NULL")
        .bind(1, owner)
        .bind(2, static_cast<std::int64_t>(::getpid()))
        .bind(3, now)
        .run();
  });
}

void sqlite_store::engine_stopped(const std::string& owner, time_point now) {
  atomically("record engine stop", [&] {
    query(*db_, "UPDATE engine_heartbeat SET stopped_at = ?2 WHERE owner = ?1")
        .bind(1, owner)
        .bind(2, now)
        .run();
  });
}

status_snapshot sqlite_store::status(time_point now) {
  status_snapshot s;
  auto all_zero = [] {
    std::map<std::string, std::int64_t> m;
    for (auto st : all_states) m[std::string(to_string(st))] = 0;
    return m;
  };
  atomically("read status", [&] {
    s.by_state = all_zero();
    {
      query q(*db_, "SELECT name, version, state FROM campaign_heads ORDER BY name");
      while (q.step()) {
        s.campaigns.push_back(
            {q.get_text(0), static_cast<int>(q.get_int(1)), q.get_text(2), all_zero()});
      }
    }
    {
      // One pass over the (campaign, state) index gives both tallies: the totals by state are
      // the sums over campaigns (a second GROUP BY state cost three times as much: it sorts).
      query q(*db_, "SELECT campaign, state, count(*) FROM messages GROUP BY campaign, state");
      while (q.step()) {
        auto name = q.get_text(0);
        auto state = q.get_text(1);
        auto n = q.get_int(2);
        s.by_state[state] += n;
        auto it = std::find_if(s.campaigns.begin(), s.campaigns.end(),
                               [&](const campaign_counts& c) { return c.name == name; });
        if (it != s.campaigns.end()) it->by_state[state] = n;
      }
    }
    {
      query q(*db_,
              std::string("SELECT min(m.due_at) FROM messages m JOIN campaign_heads h "
                          "ON h.name = m.campaign WHERE ") +
                  sqlite::claimable_sql +
                  " AND m.due_at <= ?1 AND h.state = 'active' AND NOT pigeon_claimed(m.id, ?1)");
      q.bind(1, now);
      if (q.step()) s.oldest_due = q.get_opt_time(0);
    }
    {
      // One engine per file (its lock): the latest to beat; older rows are earlier runs.
      query q(*db_,
              "SELECT owner, at, stopped_at, pid, detail FROM engine_heartbeat "
              "ORDER BY at DESC LIMIT 1");
      if (q.step()) {
        s.engine_owner = q.get_text(0);
        s.engine_heartbeat = q.get_time(1);
        s.engine_stopped_at = q.get_opt_time(2);
        s.nodes.push_back({s.engine_owner, q.get_int(3), *s.engine_heartbeat, s.engine_stopped_at,
                           q.get_text(4)});
      }
    }
    // This store's own claims (held in memory, claim_table.hpp) count as `leased`; another
    // process (`pigeon status`, the engine's status reader) sees their rows' waiting states.
    for (const auto& [id, c] : claims_.all()) {
      if (!claims_.held(id, sqlite::to_ms(now))) continue;
      auto move = [&](std::map<std::string, std::int64_t>& counts) {
        if (counts[c.state] <= 0) return;
        --counts[c.state];
        ++counts["leased"];
      };
      move(s.by_state);
      auto it = std::find_if(s.campaigns.begin(), s.campaigns.end(),
                             [&](const campaign_counts& k) { return k.name == c.campaign; });
      if (it != s.campaigns.end()) move(it->by_state);
    }
    // messages_maybe_duplicate (migration 9) holds just those rows: no scan of the queue.
    s.possible_duplicates =
        db_->query_int("SELECT count(*) FROM messages WHERE maybe_duplicate = 1");
    s.contacts = db_->query_int(std::string("SELECT count(*) FROM contacts k WHERE ") +
                                sqlite::live_contact_sql);
  });
  return s;
}

std::vector<message_row> sqlite_store::messages(const message_filter& filter) {
  std::vector<message_row> out;
  atomically("list messages", [&] {
    query q(*db_, std::string("SELECT ") + columns::message_row_columns +
                      " FROM messages m JOIN contacts k ON k.id = m.contact_id "
                      "JOIN campaign_heads h ON h.name = m.campaign "
                      "WHERE (?1 = '' OR m.campaign = ?1) AND (?2 IS NULL OR m.state = ?2) "
                      "AND (?4 = 0 OR h.state = 'active') AND (?5 = '' OR k.phone = ?5) "
                      "ORDER BY m.id LIMIT ?3");
    q.bind(1, filter.campaign);
    q.bind(5, filter.phone);
    q.bind(4, filter.active_campaigns_only ? 1 : 0);
    if (filter.state) q.bind(2, to_string(*filter.state));
    q.bind(3, filter.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(filter.limit));
    while (q.step()) out.push_back(columns::read_message_row(q));
  });
  return out;
}

}  // namespace pigeon::engine::sqlite
