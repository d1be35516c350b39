// sqlite_store: the dispatch path's writes, mark_submitting and record_outcomes, made in groups.
// A flush of the dispatcher holds the intents (outcomes) of many messages; each kind of row is
// written with one multi-row statement per chunk (UPDATE ... FROM (VALUES ...), INSERT ...
// VALUES ... RETURNING) instead of one statement per message, so SQLite opens its cursors and
// runs its statement setup once per chunk. Same rows, same checks as one at a time: a message
// whose send policy reads the ledger (caps, stop_on) has the intents before it written first.
#include <array>
#include <unordered_set>

#include "engine/store/rows.hpp"
#include "engine/store/sqlite_db.hpp"
#include "engine/store/sqlite_store.hpp"

namespace pigeon::engine {

using sqlite::query;

namespace {

// Rows per multi-row statement, largest first: a group is cut into chunks of these sizes, so
// the statement cache holds a few texts per kind whatever the group sizes.
constexpr std::array<std::size_t, 7> chunk_sizes = {64, 32, 16, 8, 4, 2, 1};

std::size_t chunk_for(std::size_t left) {
  for (auto n : chunk_sizes)
    if (n <= left) return n;
  return 1;
}

// "(?f, ?f+1, ...), (...)": `rows` tuples of `columns` parameters numbered from `first`.
std::string values_sql(std::size_t rows, std::size_t columns, int first = 1) {
  std::string s;
  int p = first;
  for (std::size_t r = 0; r < rows; ++r) {
    s += r ? ", (" : "(";
    for (std::size_t c = 0; c < columns; ++c) {
      if (c) s += ", ";
      s += '?' + std::to_string(p++);
    }
    s += ')';
  }
  return s;
}

// One statement text per chunk size, in chunk_sizes' order; built once (thread-safe static
// initialisation at the call site), shared by every store.
template <typename Build>
std::array<std::string, chunk_sizes.size()> per_chunk(Build build) {
  std::array<std::string, chunk_sizes.size()> texts;
  for (std::size_t k = 0; k < chunk_sizes.size(); ++k) texts[k] = build(chunk_sizes[k]);
  return texts;
}

const std::string& for_chunk(const std::array<std::string, chunk_sizes.size()>& texts,
                             std::size_t rows) {
  std::size_t k = 0;
  while (chunk_sizes[k] != rows) ++k;
  return texts[k];
}

bool is_carrier_verdict(message_state s) {
  return s == message_state::submitted || s == message_state::delivered ||
         s == message_state::undelivered || s == message_state::failed;
}

}  // namespace

std::vector<std::int64_t> sqlite_store::mark_submitting(const std::vector<submit_intent>& intents) {
  std::vector<std::int64_t> marked;
  atomically("mark submitting", [&] {
    marked.clear();
    marked.reserve(intents.size());
    if (intents.empty()) return;
    // One read for the checks, the policy and the intent; the writes below bind what it read
    // (same transaction) instead of re-reading it in subqueries.
    const auto contexts = read_submit_contexts(intents);
    std::vector<std::pair<const submit_intent*, const submit_context*>> ready;
    std::unordered_set<std::int64_t> seen;
    auto write_ready = [&] {
      mark_ready(ready, marked);
      ready.clear();
    };
    for (const auto& in : intents) {
      // A repeated intent: the first one marked it, the message is no longer leased.
      if (!seen.insert(in.message_id).second) continue;
      auto found = contexts.find(in.message_id);
      if (found == contexts.end()) continue;
      const submit_context& ctx = found->second;
      // Opted out since the claim: suppressed, never sent.
      if (ctx.opted_out && suppress_opted_out(in.message_id, intents.front().at)) continue;
      // Cancelled, suppressed or finished since the claim: leave it.
      if (ctx.state != "leased") continue;
      if (ctx.head_state != "active") {
        // Paused since the claim: hand it back to the queue for when the campaign resumes.
        query(*db_,
              "UPDATE messages SET state = 'scheduled', lease_owner = NULL, lease_until = NULL "
              "WHERE id = ?1 AND state = 'leased'")
            .bind(1, in.message_id)
            .run();
        continue;
      }
      // The policy counts ledger rows (caps, stop_on): earlier intents of this call count too.
      if (!ctx.stop_on.empty() || ctx.category == "marketing") {
        write_ready();
        if (auto verdict = policy_verdict(in, ctx)) {
          record_outcomes({*verdict});
          continue;
        }
      }
      ready.emplace_back(&in, &ctx);
    }
    write_ready();
  });
  return marked;
}

void sqlite_store::mark_ready(
    const std::vector<std::pair<const submit_intent*, const submit_context*>>& ready,
    std::vector<std::int64_t>& marked) {
  constexpr std::size_t mark_columns = 7, ledger_columns = 6;
  static const auto marks = per_chunk([](std::size_t rows) {
    return "UPDATE messages SET state = 'submitting', attempts = v.column2, "
           "provider = v.column3, body = v.column4, segments = v.column5, "
           "updated_at = v.column6, rendered_version = v.column7 FROM (VALUES " +
           values_sql(rows, mark_columns) +
           ") AS v WHERE messages.id = v.column1 AND messages.state = 'leased' "
           "RETURNING messages.id";
  });
  static const auto ledgers = per_chunk([](std::size_t rows) {
    return "INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, "
           "outcome) SELECT column1, column2, column3, column4, column5, column6, 'pending' "
           "FROM (VALUES " +
           values_sql(rows, ledger_columns) + ") RETURNING id, message_id";
  });
  std::unordered_set<std::int64_t> updated;
  std::vector<std::size_t> written;  // indexes into `ready` of this chunk's marked messages
  for (std::size_t i = 0; i < ready.size();) {
    const std::size_t n = chunk_for(ready.size() - i);
    const auto& mark = for_chunk(marks, n);
    updated.clear();
    {
      query q(*db_, mark);
      for (std::size_t r = 0; r < n; ++r) {
        const auto& [in, ctx] = ready[i + r];
        const int p = static_cast<int>(r * mark_columns);
        q.bind(p + 1, in->message_id).bind(p + 2, ctx->attempts + 1).bind(p + 3, in->provider);
        q.bind(p + 4, in->body).bind(p + 5, in->segments).bind(p + 6, in->at);
        q.bind(p + 7, ctx->head_version);
      }
      while (q.step()) updated.insert(q.get_int(0));
    }
    written.clear();
    for (std::size_t r = 0; r < n; ++r)  // all of them: each was read leased in this transaction
      if (updated.count(ready[i + r].first->message_id)) written.push_back(i + r);
    for (std::size_t w = 0; w < written.size();) {
      const std::size_t m = chunk_for(written.size() - w);
      const auto& ledger = for_chunk(ledgers, m);
      query q(*db_, ledger);
      for (std::size_t r = 0; r < m; ++r) {
        const auto& [in, ctx] = ready[written[w + r]];
        const int p = static_cast<int>(r * ledger_columns);
        q.bind(p + 1, in->message_id).bind(p + 2, ctx->contact_id).bind(p + 3, ctx->campaign);
        q.bind(p + 4, ctx->attempts + 1).bind(p + 5, in->provider).bind(p + 6, in->at);
      }
      while (q.step()) pending_ledger_[q.get_int(1)] = q.get_int(0);
      w += m;
    }
    for (auto k : written) marked.push_back(ready[k].first->message_id);
    i += n;
  }
}

void sqlite_store::record_outcomes(const std::vector<send_outcome>& outcomes) {
  static const std::string contact_of = "SELECT contact_id FROM messages WHERE id = ?1";
  atomically("record outcomes", [&] {
    // Runs of outcomes, each message at most once per run, applied together; an outcome that
    // opts its recipient out is applied alone, since the opt-out suppresses other messages.
    std::vector<const send_outcome*> run;
    std::unordered_set<std::int64_t> in_run;
    auto apply_run = [&] {
      apply_outcomes(run);
      run.clear();
      in_run.clear();
    };
    for (const auto& o : outcomes) {
      if (o.recipient_opted_out) {
        apply_run();
        apply_outcomes({&o});
        // The carrier says the recipient opted out with it: record it like a STOP.
        query q(*db_, contact_of);
        q.bind(1, o.message_id);
        if (q.step()) opt_out(q.get_int(0), "carrier: " + o.reason, o.at);
        continue;
      }
      if (!in_run.insert(o.message_id).second) {
        apply_run();
        in_run.insert(o.message_id);
      }
      run.push_back(&o);
    }
    apply_run();
  });
}

void sqlite_store::apply_outcomes(const std::vector<const send_outcome*>& outcomes) {
  // may_apply() in SQL: final states never change; a submitted message only moves forward
  // (a DLR, or a repeated submitted carrying the carrier id). No read first.
  constexpr std::size_t update_columns = 9, ledger_columns = 7;
  static const auto updates = per_chunk([](std::size_t rows) {
    return "UPDATE messages SET state = v.column2, "
           "provider = CASE WHEN v.column3 <> '' THEN v.column3 ELSE provider END, "
           "carrier_id = CASE WHEN v.column4 <> '' THEN v.column4 ELSE carrier_id END, "
           "reason = v.column5, due_at = CASE WHEN v.column6 THEN v.column7 ELSE due_at END, "
           "sent_at = CASE WHEN v.column2 = 'submitted' THEN v.column8 ELSE sent_at END, "
           "final_at = CASE WHEN v.column9 THEN v.column8 ELSE final_at END, "
           "lease_owner = NULL, lease_until = NULL, updated_at = v.column8 FROM (VALUES " +
           values_sql(rows, update_columns) + ") AS v WHERE messages.id = v.column1 AND " +
           sqlite::not_final_sql() +
           " AND (state <> 'submitted' OR v.column2 = 'submitted' OR v.column9)";
  });
  static const auto ledger_updates = per_chunk([](std::size_t rows) {
    return "UPDATE send_ledger SET outcome = v.column2, "
           "carrier_id = CASE WHEN v.column3 <> '' THEN v.column3 ELSE carrier_id END, "
           "reason = v.column4, completed_at = coalesce(completed_at, v.column6) FROM (VALUES " +
           values_sql(rows, ledger_columns) +
           ") AS v WHERE send_ledger.id = v.column1 AND send_ledger.message_id = v.column7 "
           "AND (outcome = 'pending' OR (v.column5 AND (outcome = 'submitted' OR "
           "outcome = 'unknown'))) RETURNING send_ledger.message_id";
  });
  // The ledger records what happened to the attempt even when the message itself no longer
  // changes (e.g. cancelled while the request was in flight): caps count real sends.
  // pending takes any outcome; submitted and unknown (crash) only carrier verdicts.
  static const std::string ledger_verdict =
      " AND (outcome = 'pending' OR (?5 AND (outcome = 'submitted' OR outcome = 'unknown')))";
  // The attempt's row when mark_submitting's rowid is unknown or no longer the message's (e.g.
  // after a rollback, or a verdict without a new attempt): the message's latest row.
  static const std::string update_latest =
      "UPDATE send_ledger SET outcome = ?2, "
      "carrier_id = CASE WHEN ?3 <> '' THEN ?3 ELSE carrier_id END, reason = ?4, "
      "completed_at = coalesce(completed_at, ?6) "
      "WHERE id = (SELECT max(id) FROM send_ledger WHERE message_id = ?1)" +
      ledger_verdict;
  std::vector<std::pair<const send_outcome*, std::int64_t>> kept;  // outcome, ledger rowid
  std::vector<const send_outcome*> latest;
  std::unordered_set<std::int64_t> done;
  for (std::size_t i = 0; i < outcomes.size();) {
    const std::size_t n = chunk_for(outcomes.size() - i);
    const auto& update = for_chunk(updates, n);
    query q(*db_, update);
    for (std::size_t r = 0; r < n; ++r) {
      const send_outcome& o = *outcomes[i + r];
      const bool waits = o.state == message_state::retry || o.state == message_state::deferred;
      const int p = static_cast<int>(r * update_columns);
      q.bind(p + 1, o.message_id).bind(p + 2, to_string(o.state)).bind(p + 3, o.provider);
      q.bind(p + 4, o.carrier_id).bind(p + 5, o.reason).bind(p + 6, waits ? 1 : 0);
      q.bind(p + 7, o.next_due.value_or(o.at)).bind(p + 8, o.at);
      q.bind(p + 9, is_final(o.state) ? 1 : 0);
    }
    q.run();
    i += n;
  }
  for (const auto* o : outcomes) {
    if (auto row = pending_ledger_.find(o->message_id); row != pending_ledger_.end()) {
      kept.emplace_back(o, row->second);
      pending_ledger_.erase(row);
    } else {
      latest.push_back(o);
    }
  }
  // By the rowid mark_submitting kept, when that row still belongs to the message.
  for (std::size_t i = 0; i < kept.size();) {
    const std::size_t n = chunk_for(kept.size() - i);
    const auto& update = for_chunk(ledger_updates, n);
    query q(*db_, update);
    for (std::size_t r = 0; r < n; ++r) {
      const auto& [o, rowid] = kept[i + r];
      const int p = static_cast<int>(r * ledger_columns);
      q.bind(p + 1, rowid).bind(p + 2, to_string(o->state)).bind(p + 3, o->carrier_id);
      q.bind(p + 4, o->reason).bind(p + 5, is_carrier_verdict(o->state) ? 1 : 0);
      q.bind(p + 6, o->at).bind(p + 7, o->message_id);
    }
    done.clear();
    while (q.step()) done.insert(q.get_int(0));
    for (std::size_t r = 0; r < n; ++r)
      if (!done.count(kept[i + r].first->message_id)) latest.push_back(kept[i + r].first);
    i += n;
  }
  for (const auto* o : latest) {
    query q(*db_, update_latest);
    q.bind(1, o->message_id).bind(2, to_string(o->state)).bind(3, o->carrier_id);
    q.bind(4, o->reason).bind(5, is_carrier_verdict(o->state) ? 1 : 0).bind(6, o->at);
    q.run();
  }
}

}  // namespace pigeon::engine
