// postgres_store: the message queue and the send ledger, shared by every node. What SQLite holds
// in memory (claims, one engine per file) is on the rows here: a claim is a lease (state
// `leased`, lease_owner, lease_until), so another node skips it and a dead node's lease runs out.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <unordered_set>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"
#include "engine/store/queue_rows.hpp"

namespace pigeon::engine::postgres {

namespace {

// Campaigns not active: few rows, read once per statement as a hashed filter, so the claim and
// next_due walk the due-time index in order and stop early instead of joining every due row
// (a join made PostgreSQL sort the whole due backlog at each claim).
constexpr const char* active_campaign_sql =
    "m.campaign NOT IN (SELECT name FROM campaign_heads WHERE state <> 'active')";

// Due rows of active campaigns, oldest due first: waiting states due at $3, and leases that ran
// out before $3 (a dead or stalled node's). Each arm walks its own partial index
// (messages_claimable on (due_at, id), messages_leased) and stops at $4 rows; FOR UPDATE SKIP
// LOCKED passes over rows another node is claiming or marking this instant, and re-checks a row
// that changed since the statement's snapshot, so two nodes never lease the same message. The
// UPDATE leases the first $4 of both arms (a row of the other arm stays as it was, its lock held
// until this transaction ends: milliseconds).
const std::string claim_sql =
    std::string(
        "WITH expired AS ("
        "  SELECT m.id, m.due_at FROM messages m "
        "  WHERE m.state = 'leased' AND m.lease_until < $3::bigint AND ") +
    active_campaign_sql +
    "  ORDER BY m.due_at, m.id LIMIT $4::bigint FOR UPDATE SKIP LOCKED), "
    "waiting AS ("
    "  SELECT m.id, m.due_at FROM messages m WHERE " +
    postgres::claimable_sql + " AND m.due_at <= $3::bigint AND " + active_campaign_sql +
    "  ORDER BY m.due_at, m.id LIMIT $4::bigint FOR UPDATE SKIP LOCKED), "
    "picked AS (SELECT id FROM (SELECT * FROM expired UNION ALL SELECT * FROM waiting) d "
    "  ORDER BY due_at, id LIMIT $4::bigint) "
    "UPDATE messages SET state = 'leased', lease_owner = $1::text, lease_until = $2::bigint, "
    "updated_at = $3::bigint FROM picked WHERE messages.id = picked.id RETURNING messages.id";

// Everything the dispatcher needs for the claimed ids ($1, an array), in one statement: the
// template comes from the campaign's current version (LEFT JOIN: it may have been removed since
// enqueue).
const std::string claimed_details_sql =
    columns::claimed_select_sql() +
    "WHERE m.id = ANY($1::bigint[]) AND m.state = 'leased' AND m.lease_owner = $2::text "
    "ORDER BY m.due_at, m.id";

// One INSERT of `rows` messages: parameter $1 is the time stamp, then 9 per row (campaign, step,
// variant, contact, due, expires, suppressed reason, occurrence, context). One statement per 256
// messages: one round trip instead of one per message.
std::string enqueue_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO messages (campaign, step, variant, contact_id, state, due_at, expires_at, "
      "created_at, updated_at, reason, final_at, occurrence, context) VALUES ";
  for (std::size_t r = 0; r < rows; ++r) {
    auto p = [&](int k, const char* type) {
      return "$" + std::to_string(2 + 9 * r + k) + "::" + type;
    };
    sql += (r ? ", (" : "(") + p(0, "text") + ", " + p(1, "text") + ", " + p(2, "text") + ", " +
           p(3, "bigint") + ", CASE WHEN " + p(6, "text") +
           " = '' THEN 'scheduled' ELSE 'suppressed' END, " + p(4, "bigint") + ", " +
           p(5, "bigint") + ", $1::bigint, $1::bigint, " + p(6, "text") + ", CASE WHEN " +
           p(6, "text") + " = '' THEN NULL ELSE $1::bigint END, " + p(7, "text") + ", " +
           p(8, "text") + ")";
  }
  return sql + " ON CONFLICT (campaign, step, contact_id, occurrence) DO NOTHING";
}

constexpr std::size_t enqueue_rows_per_insert = 256;

// "{1,2,3}": an array parameter of ids.
std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (auto id : ids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(id);
  }
  return out + "}";
}

// mark_submitting's statement: the intents ($1, a JSON array; $2 their ids) and their ledger rows,
// one statement per flush. Marked only while the message is still leased by this object's
// claimer ($3; the lease's end is checked on the row read first: another node claiming it since
// would have changed the owner). lease_owner stays on the `submitting` row: whose outcome it
// awaits. Returns the ids marked.
const std::string mark_sql =
    "WITH i AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(id bigint, pv text, "
    "  body text, seg int, at bigint, att int, ver int)), "
    "marked AS (UPDATE messages SET state = 'submitting', attempts = i.att, provider = i.pv, "
    "  body = i.body, segments = i.seg, updated_at = i.at, rendered_version = i.ver, "
    "  lease_until = NULL FROM i WHERE messages.id = i.id AND messages.id = ANY($2::bigint[]) "
    "  AND messages.state = 'leased' AND messages.lease_owner = $3::text "
    "  RETURNING messages.id, messages.contact_id, messages.campaign, i.att, i.pv, i.at) "
    "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, outcome, "
    "simulated) SELECT id, contact_id, campaign, att, pv, at, 'pending', $4::int FROM marked "
    "RETURNING message_id";

}  // namespace

std::size_t postgres_store::enqueue(const std::vector<new_message>& messages) {
  static const std::string one_sql = enqueue_sql(1);
  static const std::string many_sql = enqueue_sql(enqueue_rows_per_insert);
  std::size_t added = 0;
  atomically("enqueue", [&] {
    added = 0;
    auto now = postgres::wall_clock_ms();
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
    if (messages.size() >= enqueue_rows_per_insert) {
      query q(*db_, many_sql);
      for (; messages.size() - i >= enqueue_rows_per_insert; q.reset()) {
        q.bind(1, now);
        for (std::size_t r = 0; r < enqueue_rows_per_insert; ++r, ++i)
          bind(q, static_cast<int>(2 + 9 * r), messages[i]);
        q.run();
        added += static_cast<std::size_t>(q.changes());
      }
    }
    if (i == messages.size()) return;
    query q(*db_, one_sql);
    for (; i < messages.size(); ++i, q.reset()) {
      q.bind(1, now);
      bind(q, 2, messages[i]);
      q.run();
      added += static_cast<std::size_t>(q.changes());
    }
  });
  return added;
}

std::vector<claimed_message> postgres_store::claim_due(time_point now, int limit,
                                                       time_point lease_until,
                                                       const std::string& owner) {
  std::vector<claimed_message> out;
  if (limit <= 0) return out;
  claimer_ = owner;
  atomically("claim due messages", [&] {
    out.clear();
    std::vector<std::int64_t> ids;
    {
      query q(*db_, claim_sql);
      q.bind(1, owner).bind(2, lease_until).bind(3, now).bind(4, limit);
      while (q.step()) ids.push_back(q.get_int(0));
    }
    if (ids.empty()) return;
    // A contact who opted out after these were queued: suppressed here, never handed out.
    std::vector<std::int64_t> opted_out;
    // A row that does not decode (written by an older pigeon): that message fails with the
    // reason, the rest of the batch goes on; the claim never wedges on it.
    std::vector<std::pair<std::int64_t, std::string>> unreadable;
    query q(*db_, claimed_details_sql);
    q.bind(1, id_array(ids)).bind(2, owner);
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
    for (auto id : opted_out) suppress_opted_out(id, now);
    for (const auto& [id, reason] : unreadable) {
      query(*db_,
            "UPDATE messages SET state = 'failed', reason = $2::text, final_at = $3::bigint, "
            "updated_at = $3::bigint, lease_owner = NULL, lease_until = NULL "
            "WHERE id = $1::bigint AND state = 'leased'")
          .bind(1, id)
          .bind(2, reason)
          .bind(3, now)
          .run();
    }
  });
  return out;
}

std::vector<std::int64_t> postgres_store::mark_submitting(
    const std::vector<submit_intent>& intents) {
  std::vector<std::int64_t> marked;
  atomically("mark submitting", [&] {
    marked.clear();
    marked.reserve(intents.size());
    if (intents.empty()) return;
    std::vector<std::int64_t> message_ids;
    message_ids.reserve(intents.size());
    for (const auto& in : intents) message_ids.push_back(in.message_id);
    const auto ids = id_array(message_ids);
    {
      // The recipients whose send facts the policy reads (campaign messages of a marketing
      // campaign or one with stop_on): their contact rows are locked for this transaction, in id
      // order (two batches sharing recipients never wait on each other in a cycle). Another
      // node deciding for one of them waits here until this intent is committed, then counts it.
      // FOR NO KEY UPDATE: it does not block inserts of messages for the contact (their foreign
      // key takes KEY SHARE), only another decision.
      query lock(*db_,
                 "SELECT k.id FROM contacts k WHERE k.id IN ("
                 "  SELECT m.contact_id FROM messages m "
                 "  JOIN campaign_heads h ON h.name = m.campaign "
                 "  JOIN campaigns c ON c.name = h.name AND c.version = h.version "
                 "  WHERE m.id = ANY($1::bigint[]) AND m.direct_text IS NULL "
                 "  AND (c.category = 'marketing' OR c.stop_on <> '[]')) "
                 "ORDER BY k.id FOR NO KEY UPDATE OF k");
      lock.bind(1, ids).run();
    }
    // One read for the checks and the policy of every message.
    auto contexts = read_submit_contexts(ids);
    // Intents that passed, marked together (mark_sql) when the batch ends or before the policy
    // reads the facts of a recipient one of them is for (a later intent must count it).
    std::vector<std::int64_t> pending_ids;
    boost::json::array pending;
    std::unordered_set<std::int64_t> pending_contacts;
    auto flush = [&] {
      if (pending.empty()) return;
      query q(*db_, mark_sql);
      q.bind(1, boost::json::serialize(pending)).bind(2, id_array(pending_ids));
      q.bind(3, claimer_).bind(4, simulated_sends_ ? 1 : 0);
      std::unordered_set<std::int64_t> done;
      while (q.step()) done.insert(q.get_int(0));
      for (auto id : pending_ids)
        if (done.contains(id)) marked.push_back(id);
      pending_ids.clear();
      pending.clear();
      pending_contacts.clear();
    };
    for (const auto& in : intents) {
      auto found = contexts.find(in.message_id);
      if (found == contexts.end()) continue;
      // Each message once: a repeated intent marks nothing more (the context read for it is
      // used up).
      auto ctx = std::move(found->second);
      contexts.erase(found);
      // Opted out since the claim: suppressed, never sent.
      if (ctx.opted_out && suppress_opted_out(in.message_id, intents.front().at)) continue;
      // Cancelled, suppressed or finished since the claim, or no longer this node's (its lease
      // ran out and another node may hold it): leave it.
      if (ctx.state != "leased" || ctx.lease_owner != claimer_ || !ctx.lease_until ||
          *ctx.lease_until < in.at)
        continue;
      if (ctx.head_state != "active") {
        // Paused since the claim: back to the queue for when the campaign resumes.
        query(*db_,
              "UPDATE messages SET state = 'scheduled', lease_owner = NULL, lease_until = NULL "
              "WHERE id = $1::bigint AND state = 'leased'")
            .bind(1, in.message_id)
            .run();
        continue;
      }
      const bool reads_facts = !ctx.direct && (ctx.category == "marketing" || !ctx.stop_on.empty());
      if (reads_facts && pending_contacts.contains(ctx.contact_id)) flush();
      if (auto verdict = policy_verdict(in, ctx)) {
        record_outcomes({*verdict});
        continue;
      }
      pending_ids.push_back(in.message_id);
      pending_contacts.insert(ctx.contact_id);
      pending.push_back({{"id", in.message_id},
                         {"pv", in.provider},
                         {"body", in.body},
                         {"seg", in.segments},
                         {"at", postgres::to_ms(in.at)},
                         {"att", ctx.attempts + 1},
                         {"ver", ctx.head_version}});
    }
    flush();
  });
  return marked;
}

namespace {

// record_outcomes' statement. may_apply() in SQL: final states never change; a submitted message
// only moves forward (a DLR, or a repeated submitted carrying the carrier id). The ledger records
// what happened to the attempt even when the message itself no longer changes (e.g. cancelled
// while the request was in flight): caps count real sends. pending takes any outcome; submitted
// and unknown (crash) only carrier verdicts. The attempt's row is the message's latest
// (send_ledger_by_message). The outcomes come as one JSON array ($1): one statement for a whole
// flush, no read first; the CTE's UPDATE runs whether or not the ledger rows change. $2 (their
// ids) puts both tables' rows behind index conditions: joined to the JSON alone, PostgreSQL
// scanned both tables whole.
const std::string outcomes_sql =
    "WITH o AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS o(id bigint, st text, pv text, "
    "  cid text, why text, waits int, due bigint, at bigint, fin int, ver int)), "
    "message AS (UPDATE messages SET state = o.st, "
    "  provider = CASE WHEN o.pv <> '' THEN o.pv ELSE provider END, "
    "  carrier_id = CASE WHEN o.cid <> '' THEN o.cid ELSE carrier_id END, reason = o.why, "
    "  due_at = CASE WHEN o.waits = 1 THEN o.due ELSE due_at END, "
    "  sent_at = CASE WHEN o.st = 'submitted' THEN o.at ELSE sent_at END, "
    "  final_at = CASE WHEN o.fin = 1 THEN o.at ELSE final_at END, "
    "  lease_owner = NULL, lease_until = NULL, updated_at = o.at "
    "  FROM o WHERE messages.id = o.id AND messages.id = ANY($2::bigint[]) AND " +
    postgres::not_final_sql() +
    "  AND (state <> 'submitted' OR o.st = 'submitted' OR o.fin = 1) RETURNING messages.id) "
    "UPDATE send_ledger l SET outcome = o.st, "
    "carrier_id = CASE WHEN o.cid <> '' THEN o.cid ELSE l.carrier_id END, reason = o.why, "
    "completed_at = coalesce(l.completed_at, o.at) FROM o "
    "WHERE l.message_id = o.id AND l.id = ANY(ARRAY(SELECT max(x.id) FROM send_ledger x "
    "  WHERE x.message_id = ANY($2::bigint[]) GROUP BY x.message_id)) "
    "AND (l.outcome = 'pending' OR (o.ver = 1 AND l.outcome IN ('submitted', 'unknown')))";

boost::json::object outcome_json(const send_outcome& o) {
  const bool waits = o.state == message_state::retry || o.state == message_state::deferred;
  return {{"id", o.message_id},
          {"st", to_string(o.state)},
          {"pv", o.provider},
          {"cid", o.carrier_id},
          {"why", o.reason},
          {"waits", waits ? 1 : 0},
          {"due", postgres::to_ms(o.next_due.value_or(o.at))},
          {"at", postgres::to_ms(o.at)},
          {"fin", is_final(o.state) ? 1 : 0},
          {"ver", columns::is_carrier_verdict(o.state) ? 1 : 0}};
}

}  // namespace

void postgres_store::record_outcomes(const std::vector<send_outcome>& outcomes) {
  atomically("record outcomes", [&] {
    // Outcomes apply in order: a message named twice (e.g. submitted, then its DLR) starts a new
    // statement, so each sees the one before.
    std::size_t i = 0;
    while (i < outcomes.size()) {
      boost::json::array batch;
      std::vector<std::int64_t> ids;
      std::unordered_set<std::int64_t> in_batch;
      for (; i < outcomes.size() && in_batch.insert(outcomes[i].message_id).second; ++i) {
        batch.push_back(outcome_json(outcomes[i]));
        ids.push_back(outcomes[i].message_id);
      }
      query(*db_, outcomes_sql).bind(1, boost::json::serialize(batch)).bind(2, id_array(ids)).run();
    }
    for (const auto& o : outcomes) {
      // The carrier says the recipient opted out with it: record it like a STOP.
      if (!o.recipient_opted_out) continue;
      query q(*db_, "SELECT contact_id FROM messages WHERE id = $1::bigint");
      q.bind(1, o.message_id);
      if (q.step()) opt_out(q.get_int(0), "carrier: " + o.reason, o.at);
    }
  });
}

std::pair<std::size_t, std::size_t> postgres_store::recover_rows(
    const std::string& owners, const std::string& param, time_point now,
    std::chrono::milliseconds reconcile_grace) {
  std::pair<std::size_t, std::size_t> counts{0, 0};
  // Leased rows through messages_leased; submitting ones per campaign through messages_by_state
  // (campaign, state): no pass over the whole queue.
  const std::string submitting =
      "m.id IN (SELECT s.id FROM campaign_heads h JOIN messages s ON s.campaign = h.name AND "
      "s.state = 'submitting') AND m.state = 'submitting' AND " +
      owners;
  {
    query q(*db_,
            "UPDATE messages m SET state = 'scheduled', lease_owner = NULL, lease_until = NULL, "
            "updated_at = $2::bigint WHERE m.state = 'leased' AND " +
                owners);
    q.bind(1, param).bind(2, now).run();
    counts.first = static_cast<std::size_t>(q.changes());
  }
  query(*db_,
        "UPDATE send_ledger SET outcome = 'unknown', reason = 'engine stopped mid-submit' "
        "WHERE outcome = 'pending' AND message_id IN (SELECT m.id FROM messages m WHERE " +
            submitting + ")")
      .bind(1, param)
      .run();
  query q(*db_,
          "UPDATE messages m SET state = 'retry', due_at = $3::bigint, maybe_duplicate = 1, "
          "reason = 'outcome unknown: engine stopped mid-submit', lease_owner = NULL, "
          "lease_until = NULL, updated_at = $2::bigint WHERE " +
              submitting);
  q.bind(1, param).bind(2, now).bind(3, now + reconcile_grace).run();
  counts.second = static_cast<std::size_t>(q.changes());
  return counts;
}

std::pair<std::size_t, std::size_t> postgres_store::recover_after_crash(
    time_point now, std::chrono::milliseconds reconcile_grace) {
  std::pair<std::size_t, std::size_t> counts{0, 0};
  atomically("recover after crash", [&] {
    // Not alive: no owner, or no heartbeat within node_alive_ms of real time, or stopped.
    auto alive_since = postgres::wall_clock_ms() - node_alive_ms;
    counts = recover_rows(
        "(m.lease_owner IS NULL OR m.lease_owner NOT IN (SELECT owner FROM engine_heartbeat "
        "WHERE stopped_at IS NULL AND at >= $1::bigint))",
        std::to_string(alive_since), now, reconcile_grace);
  });
  return counts;
}

std::pair<std::size_t, std::size_t> postgres_store::recover_owner(
    const std::string& owner, time_point now, std::chrono::milliseconds reconcile_grace) {
  std::pair<std::size_t, std::size_t> counts{0, 0};
  atomically("recover a node's messages", [&] {
    counts = recover_rows("m.lease_owner = $1::text", owner, now, reconcile_grace);
  });
  return counts;
}

std::optional<time_point> postgres_store::next_due() {
  std::optional<time_point> due;
  atomically("find next due", [&] {
    // A leased message, expired or not, is not waiting to be claimed.
    query q(*db_, std::string("SELECT min(m.due_at) FROM messages m WHERE ") +
                      postgres::claimable_sql + " AND " + active_campaign_sql);
    if (q.step()) due = q.get_opt_time(0);
  });
  return due;
}

std::int64_t postgres_store::count_pending() {
  std::int64_t n = 0;
  atomically("count pending", [&] {
    n = db_->query_int(
        "SELECT count(*) FROM messages WHERE state <> 'submitted' AND state NOT IN (" +
        postgres::final_states_sql() + ")");
  });
  return n;
}

void postgres_store::heartbeat(const std::string& owner, time_point now) {
  atomically("heartbeat", [&] {
    query(*db_,
          "INSERT INTO engine_heartbeat (owner, pid, at) VALUES ($1::text, $2::bigint, "
          "$3::bigint) ON CONFLICT (owner) DO UPDATE SET pid = excluded.pid, at = excluded.at, "
          "stopped_at = NULL")
        .bind(1, owner)
        .bind(2, static_cast<std::int64_t>(::getpid()))
        .bind(3, now)
        .run();
  });
}

void postgres_store::engine_stopped(const std::string& owner, time_point now) {
  atomically("record engine stop", [&] {
    query(*db_, "UPDATE engine_heartbeat SET stopped_at = $2::bigint WHERE owner = $1::text")
        .bind(1, owner)
        .bind(2, now)
        .run();
  });
}

std::size_t postgres_store::release_leases(const std::string& owner) {
  std::size_t n = 0;
  atomically("release leases", [&] {
    // A clean stop: what `owner` claimed and never marked is claimable at once.
    query q(*db_,
            "UPDATE messages SET state = 'scheduled', lease_owner = NULL, lease_until = NULL "
            "WHERE state = 'leased' AND lease_owner = $1::text");
    q.bind(1, owner).run();
    n = static_cast<std::size_t>(q.changes());
  });
  return n;
}

void postgres_store::heartbeat_detail(const std::string& owner, const std::string& detail) {
  atomically("store heartbeat detail", [&] {
    query(*db_, "UPDATE engine_heartbeat SET detail = $2::text WHERE owner = $1::text")
        .bind(1, owner)
        .bind(2, detail)
        .run();
  });
}

}  // namespace pigeon::engine::postgres
