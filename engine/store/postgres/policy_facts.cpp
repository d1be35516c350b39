// postgres_store: the facts of the send policy, read atomically with mark_submitting (which has
// locked the recipient's contact row first: another node deciding for them waits); the verdict
// itself is policy::decide (engine/policy/send_policy.hpp), which owns the windows, priority,
// on_cap, expiry and the reasons.
//
// What a cap counts (the store's side): distinct marketing messages to the recipient with a
// ledger attempt whose outcome is pending, unknown, submitted, delivered or undelivered (the
// carrier had or may have had it), each at its latest such attempt. Attempts that failed before
// or at the carrier, or that the carrier asked to retry, do not count; a retried message counts
// once. Transactional messages are never counted and never capped.
//
// Queries run only for the facts the verdict reads: none for a direct message, the ledger and
// the waiting messages once each (not once per rule) as far as policy::cap_reach says.
#include "engine/policy/caps.hpp"
#include "engine/policy/send_policy.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine::postgres {

namespace {

// The outcomes a cap counts, on ledger alias l.
constexpr const char* counted_outcomes =
    "(l.outcome = 'pending' OR l.outcome = 'unknown' OR l.outcome = 'submitted' OR "
    "l.outcome = 'delivered' OR l.outcome = 'undelivered')";

// Responses and confirmations (direct messages) are transactional: a cap never counts them.
constexpr const char* not_direct =
    " AND NOT EXISTS (SELECT 1 FROM messages d WHERE d.id = l.message_id "
    "AND d.direct_text IS NOT NULL)";

}  // namespace

std::unordered_map<std::int64_t, postgres_store::submit_context>
postgres_store::read_submit_contexts(const std::string& id_array) {
  static const std::string sql =
      "SELECT m.state, h.state, h.version, m.attempts, m.contact_id, m.campaign, m.expires_at, "
      "c.category, c.priority, c.cap_max, c.cap_per, c.on_cap, c.stop_on, "
      "k.opted_out_at IS NOT NULL AND m.direct_text IS NULL, m.direct_text IS NOT NULL, m.step, "
      "m.occurrence, m.lease_owner, m.lease_until, m.id "
      "FROM messages m "
      "JOIN campaign_heads h ON h.name = m.campaign "
      "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
      "JOIN contacts k ON k.id = m.contact_id WHERE m.id = ANY($1::bigint[])";
  query q(*db_, sql);
  q.bind(1, id_array);
  std::unordered_map<std::int64_t, submit_context> out;
  while (q.step()) {
    submit_context& ctx = out[q.get_int(19)];
    ctx.state = q.get_text(0);
    ctx.head_state = q.get_text(1);
    ctx.head_version = static_cast<int>(q.get_int(2));
    ctx.attempts = static_cast<int>(q.get_int(3));
    ctx.contact_id = q.get_int(4);
    ctx.campaign = q.get_text(5);
    ctx.expires = q.get_opt_time(6);
    ctx.category = q.get_text(7);
    ctx.priority = static_cast<int>(q.get_int(8));
    if (!q.is_null(9) && !q.is_null(10)) {
      ctx.campaign_cap = policy::campaign_cap(static_cast<int>(q.get_int(9)),
                                              std::chrono::milliseconds(q.get_int(10)));
    }
    ctx.on_cap = q.get_text(11);
    ctx.opted_out = q.get_int(13) != 0;
    ctx.direct = q.get_int(14) != 0;
    ctx.step = q.get_text(15);
    ctx.occurrence = q.get_text(16);
    if (!q.is_null(17)) ctx.lease_owner = q.get_text(17);
    ctx.lease_until = q.get_opt_time(18);
    if (auto stop_on = q.get_text(12); stop_on != "[]")
      ctx.stop_on = postgres::json_to_strings(stop_on, "campaign stop_on");
  }
  return out;
}

std::optional<send_outcome> postgres_store::policy_verdict(const submit_intent& in,
                                                           const submit_context& ctx) {
  policy::send_facts f;
  f.at = in.at;
  f.direct = ctx.direct;
  f.marketing = ctx.category == "marketing";
  f.drop_on_cap = ctx.on_cap == "drop";
  f.expires = ctx.expires;
  f.stop_on = ctx.stop_on;
  // Only the facts the verdict reads are queried: none for a direct message (it passes), the
  // stop_on ones for a campaign with stop_on, the cap ones for marketing with a rule.

  // stop_on: the first counted send of this campaign to the recipient (in a journey, of the same
  // occurrence: a purchase last year does not stop this year's win-back), then each trigger's
  // reply or event since.
  if (!f.direct && !f.stop_on.empty()) {
    {
      static const std::string sql =
          std::string(
              "SELECT min(l.at) FROM send_ledger l WHERE l.contact_id = $1::bigint AND "
              "l.campaign = $2::text AND l.message_id <> $3::bigint AND ") +
          counted_outcomes +
          " AND ($4::text = '' OR l.message_id IN (SELECT id FROM messages o WHERE "
          "o.contact_id = $1::bigint AND o.campaign = $2::text AND o.occurrence = $4::text))";
      query q(*db_, sql);
      q.bind(1, ctx.contact_id).bind(2, ctx.campaign).bind(3, in.message_id);
      q.bind(4, ctx.occurrence);
      if (q.step()) f.first_send = q.get_opt_time(0);
    }
    for (const auto& trigger : f.stop_on) {
      if (!f.first_send) break;
      std::optional<query> q;
      if (trigger.starts_with("reply:")) {
        // A reply matched to this campaign, or to none (the keyword engine could not tell); not
        // the reply that queued this very follow-up step.
        q.emplace(*db_,
                  "SELECT at FROM replies WHERE contact_id = $1::bigint AND at >= $2::bigint "
                  "AND upper(trim(keyword)) = upper($3::text) "
                  "AND (campaign IS NULL OR campaign = '' OR campaign = $4::text) "
                  "AND strpos('+' || action || '+', '+follow_up:' || $5::text || '+') = 0 "
                  "LIMIT 1");
        q->bind(4, ctx.campaign).bind(5, ctx.step);
      } else if (trigger.starts_with("event:")) {
        q.emplace(*db_,
                  "SELECT at FROM events WHERE contact_id = $1::bigint AND at >= $2::bigint "
                  "AND name = $3::text LIMIT 1");
      } else {
        continue;
      }
      q->bind(1, ctx.contact_id).bind(2, *f.first_send).bind(3, trigger.substr(6));
      if (q->step()) f.stop_signals.push_back({trigger, q->get_time(0)});
    }
  }

  if (!f.direct && f.marketing) {
    // The rules: the engine's (from the dispatcher), the campaign's own, the recipient's choice.
    f.engine_rules = in.caps;
    if (ctx.campaign_cap.max > 0) f.campaign_cap = ctx.campaign_cap;
    {
      query q(*db_,
              "SELECT max, per_seconds FROM contact_preferences WHERE contact_id = $1::bigint");
      q.bind(1, ctx.contact_id);
      if (q.step() && !q.is_null(0) && !q.is_null(1) && q.get_int(1) > 0)
        f.preference = policy::preference_cap(static_cast<int>(q.get_int(0)),
                                              std::chrono::seconds(q.get_int(1)));
    }
    const auto reach = policy::cap_reach(f);
    if (reach.sends.count() > 0) {
      // The last attempt of each counted message, as far back as the longest rule reaches.
      static const std::string sql =
          std::string(
              "SELECT max(l.at), max(l.campaign) = $4::text FROM send_ledger l "
              "JOIN campaign_heads h ON h.name = l.campaign "
              "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
              "WHERE l.contact_id = $1::bigint AND l.at > $2::bigint "
              "AND l.message_id <> $3::bigint "
              "AND c.category = 'marketing' AND ") +
          counted_outcomes + not_direct + " GROUP BY l.message_id";
      query q(*db_, sql);
      q.bind(1, ctx.contact_id).bind(2, in.at - reach.sends).bind(3, in.message_id);
      q.bind(4, ctx.campaign);
      while (q.step()) f.sends.push_back({q.get_time(0), q.get_int(1) != 0});
    }
    if (reach.waiting.count() > 0) {
      query q(*db_,
              "SELECT m.due_at FROM messages m "
              "JOIN campaign_heads h ON h.name = m.campaign "
              "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
              "WHERE m.contact_id = $1::bigint AND m.id <> $2::bigint AND h.state = 'active' "
              "AND c.category = 'marketing' AND c.priority > $3::int "
              "AND (m.state = 'scheduled' OR m.state = 'retry' OR m.state = 'deferred' "
              "OR m.state = 'leased') AND m.due_at < $4::bigint");
      q.bind(1, ctx.contact_id).bind(2, in.message_id).bind(3, ctx.priority);
      q.bind(4, in.at + reach.waiting);
      while (q.step()) f.waiting_higher.push_back(q.get_time(0));
    }
  }

  auto v = policy::decide(f);
  message_state state = message_state::suppressed;
  switch (v.what) {
    case policy::decision::pass:
      return std::nullopt;
    case policy::decision::suppressed:
      break;
    case policy::decision::deferred:
      state = message_state::deferred;
      break;
    case policy::decision::expired:
      state = message_state::expired;
      break;
  }
  std::optional<time_point> next;
  if (v.what == policy::decision::deferred) next = v.until;
  return send_outcome{in.message_id, state, {}, {}, std::move(v.reason), next, in.at};
}

void postgres_store::for_each_capped_send(
    time_point since, const std::function<void(std::int64_t, const std::string&, time_point)>& fn) {
  atomically("list capped sends", [&] {
    query q(*db_, std::string("SELECT l.contact_id, l.campaign, max(l.at) FROM send_ledger l "
                              "JOIN campaign_heads h ON h.name = l.campaign "
                              "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
                              "WHERE l.at >= $1::bigint AND c.category = 'marketing' AND ") +
                      counted_outcomes + not_direct +
                      " GROUP BY l.message_id, l.contact_id, l.campaign");
    q.bind(1, since);
    while (q.step()) fn(q.get_int(0), q.get_text(1), q.get_time(2));
  });
}

std::vector<std::int64_t> postgres_store::opted_out_contacts() {
  std::vector<std::int64_t> out;
  atomically("list opted-out contacts", [&] {
    query q(*db_, "SELECT id FROM contacts WHERE opted_out_at IS NOT NULL ORDER BY id");
    while (q.step()) out.push_back(q.get_int(0));
  });
  return out;
}

std::size_t postgres_store::defer_at_apply(const std::string& campaign,
                                           const std::vector<apply_deferral>& deferrals) {
  std::size_t changed = 0;
  atomically("defer capped messages at apply", [&] {
    std::int64_t now = postgres::wall_clock_ms();
    for (const auto& d : deferrals) {
      query q(*db_,
              "UPDATE messages SET state = 'deferred', due_at = $4::bigint, reason = $5::text, "
              "updated_at = $6::bigint WHERE campaign = $1::text AND step = $2::text "
              "AND contact_id = $3::bigint AND state = 'scheduled' AND attempts = 0");
      q.bind(1, campaign).bind(2, d.step).bind(3, d.contact_id).bind(4, d.due);
      q.bind(5, d.reason).bind(6, now).run();
      changed += static_cast<std::size_t>(q.changes());
    }
  });
  return changed;
}

}  // namespace pigeon::engine::postgres
