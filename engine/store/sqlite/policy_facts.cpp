// sqlite_store: send policy checked atomically with mark_submitting (stop_on, frequency caps).
//
// What a cap counts: distinct marketing messages to the recipient with a ledger attempt in the
// window whose outcome is pending, unknown, submitted, delivered or undelivered (the carrier had
// or may have had it). Attempts that failed before or at the carrier, or that the carrier asked
// to retry, do not count; a retried message counts once. Transactional messages are never
// counted and never capped.
//
// Priority: a message may not take a slot that a higher-priority marketing message to the same
// recipient (of an active campaign, still waiting, due before this send leaves the window) needs;
// it waits until that message has gone (then until the window frees a slot) or is dropped, as
// its campaign's `on_cap` says.
#include <algorithm>

#include "engine/policy/caps.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine {

using sqlite::query;

namespace {

// OR-ed equalities rather than `IN (...)`: these run once per marketing message, and SQLite
// builds a temporary b-tree for every execution of a constant IN list of three or more values.
constexpr const char* counted_outcomes =
    "(l.outcome = 'pending' OR l.outcome = 'unknown' OR l.outcome = 'submitted' OR "
    "l.outcome = 'delivered' OR l.outcome = 'undelivered')";

// Responses and confirmations (direct messages) are transactional: a cap never counts them.
constexpr const char* not_direct =
    " AND NOT EXISTS (SELECT 1 FROM messages d WHERE d.id = l.message_id "
    "AND d.direct_text IS NOT NULL)";

struct blocked {
  time_point next{};
  std::string reason;
};

}  // namespace

std::optional<sqlite_store::submit_context> sqlite_store::read_submit_context(
    std::int64_t message_id) {
  static const std::string sql =
      "SELECT m.state, h.state, h.version, m.attempts, m.contact_id, m.campaign, m.expires_at, "
      "c.category, c.priority, c.cap_max, c.cap_per, c.on_cap, c.stop_on, "
      "k.opted_out_at IS NOT NULL AND m.direct_text IS NULL, m.direct_text IS NOT NULL, m.step, "
      "m.occurrence "
      "FROM messages m "
      "JOIN campaign_heads h ON h.name = m.campaign "
      "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
      "JOIN contacts k ON k.id = m.contact_id WHERE m.id = ?1";
  query q(*db_, sql);
  q.bind(1, message_id);
  if (!q.step()) return std::nullopt;
  submit_context ctx;
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
    ctx.campaign_cap.max = static_cast<int>(q.get_int(9));
    ctx.campaign_cap.per = std::chrono::milliseconds(q.get_int(10));
    ctx.campaign_cap.label = "campaign " + std::to_string(ctx.campaign_cap.max) + " per " +
                             format_period(ctx.campaign_cap.per);
  }
  ctx.on_cap = q.get_text(11);
  ctx.opted_out = q.get_int(13) != 0;
  ctx.direct = q.get_int(14) != 0;
  ctx.step = q.get_text(15);
  ctx.occurrence = q.get_text(16);
  if (auto stop_on = q.get_text(12); stop_on != "[]")
    ctx.stop_on = sqlite::json_to_strings(stop_on, "campaign stop_on");
  return ctx;
}

std::optional<send_outcome> sqlite_store::policy_verdict(const submit_intent& in,
                                                         const submit_context& ctx) {
  auto outcome = [&](message_state state, std::string reason,
                     std::optional<time_point> next = std::nullopt) {
    return send_outcome{in.message_id, state, {}, {}, std::move(reason), next, in.at};
  };

  // Responses and confirmations are transactional: never stopped, never capped (DESIGN Replies).
  if (ctx.direct) return std::nullopt;

  // stop_on: a reply or event after this campaign's first send to the recipient ends its later
  // steps; not the follow-up step that very reply queued. (opt_out is global suppression,
  // handled with the opt-out list.) In a journey, the first send of the same occurrence: a
  // purchase last year does not stop this year's win-back.
  if (!ctx.stop_on.empty()) {
    std::optional<time_point> first_send;
    {
      query q(*db_, std::string("SELECT min(l.at) FROM send_ledger l WHERE l.contact_id = ?1 AND "
                                "l.campaign = ?2 AND l.message_id <> ?3 AND ") +
                        counted_outcomes +
                        " AND (?4 = '' OR l.message_id IN (SELECT id FROM messages o WHERE "
                        "o.contact_id = ?1 AND o.campaign = ?2 AND o.occurrence = ?4))");
      q.bind(1, ctx.contact_id).bind(2, ctx.campaign).bind(3, in.message_id);
      q.bind(4, ctx.occurrence);
      if (q.step()) first_send = q.get_opt_time(0);
    }
    if (first_send) {
      for (const auto& trigger : ctx.stop_on) {
        bool hit = false;
        if (trigger.starts_with("reply:")) {
          // A reply matched to this campaign, or to none (the keyword engine could not tell).
          query q(*db_,
                  "SELECT 1 FROM replies WHERE contact_id = ?1 AND at >= ?2 "
                  "AND upper(trim(keyword)) = upper(?3) "
                  "AND (campaign IS NULL OR campaign = '' OR campaign = ?4) "
                  "AND instr('+' || action || '+', '+follow_up:' || ?5 || '+') = 0 LIMIT 1");
          q.bind(1, ctx.contact_id).bind(2, *first_send).bind(3, trigger.substr(6));
          q.bind(4, ctx.campaign).bind(5, ctx.step);
          hit = q.step();
        } else if (trigger.starts_with("event:")) {
          query q(*db_,
                  "SELECT 1 FROM events WHERE contact_id = ?1 AND at >= ?2 AND name = ?3 LIMIT 1");
          q.bind(1, ctx.contact_id).bind(2, *first_send).bind(3, trigger.substr(6));
          hit = q.step();
        }
        if (hit) return outcome(message_state::suppressed, "stop_on " + trigger);
      }
    }
  }

  if (ctx.category != "marketing") return std::nullopt;

  // The rules: the engine's (from the dispatcher), the campaign's own, the recipient's choice.
  struct scoped_rule {
    cap_rule rule;
    bool this_campaign_only = false;
  };
  std::vector<scoped_rule> rules;
  for (const auto& r : in.caps) rules.push_back({r, false});
  if (ctx.campaign_cap.max > 0) rules.push_back({ctx.campaign_cap, true});
  {
    query q(*db_, "SELECT max, per_seconds FROM contact_preferences WHERE contact_id = ?1");
    q.bind(1, ctx.contact_id);
    if (q.step() && !q.is_null(0) && !q.is_null(1) && q.get_int(1) > 0) {
      cap_rule pref;
      pref.max = static_cast<int>(q.get_int(0));
      pref.per = std::chrono::seconds(q.get_int(1));
      pref.label = "preference " + std::to_string(pref.max) + " per " + format_period(pref.per);
      rules.push_back({pref, false});
    }
  }

  std::optional<blocked> worst;
  for (const auto& [rule, campaign_only] : rules) {
    if (rule.per.count() <= 0) continue;
    std::string reason = "frequency cap: " + rule.label;
    if (rule.max <= 0) return outcome(message_state::suppressed, reason);
    std::vector<time_point> sends;  // the last attempt of each counted message, oldest first
    {
      query q(*db_, std::string("SELECT max(l.at) FROM send_ledger l "
                                "JOIN campaign_heads h ON h.name = l.campaign "
                                "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
                                "WHERE l.contact_id = ?1 AND l.at > ?2 AND l.message_id <> ?3 "
                                "AND c.category = 'marketing' AND (?4 = '' OR l.campaign = ?4) "
                                "AND ") +
                        counted_outcomes + not_direct + " GROUP BY l.message_id ORDER BY 1");
      q.bind(1, ctx.contact_id).bind(2, in.at - rule.per).bind(3, in.message_id);
      q.bind(4, campaign_only ? ctx.campaign : std::string());
      while (q.step()) sends.push_back(q.get_time(0));
    }
    std::int64_t reserved = 0;
    std::optional<time_point> last_reserving;
    if (!campaign_only) {
      query q(*db_,
              "SELECT count(*), max(m.due_at) FROM messages m "
              "JOIN campaign_heads h ON h.name = m.campaign "
              "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
              "WHERE m.contact_id = ?1 AND m.id <> ?2 AND h.state = 'active' "
              "AND c.category = 'marketing' AND c.priority > ?3 "
              "AND (m.state = 'scheduled' OR m.state = 'retry' OR m.state = 'deferred' "
              "OR m.state = 'leased') AND m.due_at < ?4");
      q.bind(1, ctx.contact_id).bind(2, in.message_id).bind(3, ctx.priority);
      q.bind(4, in.at + rule.per);
      if (q.step()) {
        reserved = q.get_int(0);
        last_reserving = q.get_opt_time(1);
      }
    }
    auto used = static_cast<std::int64_t>(sends.size());
    if (used + reserved < rule.max) continue;
    blocked b;
    b.reason = reason;
    if (used >= rule.max) {
      // The slot frees when the (used - max + 1)-th oldest send leaves the window.
      b.next = sends[static_cast<std::size_t>(used - rule.max)] + rule.per;
    } else {
      // Held for a higher-priority message: look again once it is due (then its send counts).
      b.reason += " (slot held for a higher-priority campaign)";
      b.next = std::max(in.at, last_reserving.value_or(in.at)) + std::chrono::minutes(1);
    }
    if (!worst || b.next > worst->next) worst = std::move(b);
  }
  if (!worst) return std::nullopt;
  if (ctx.on_cap == "drop") return outcome(message_state::suppressed, worst->reason);
  if (ctx.expires && worst->next >= *ctx.expires) {
    return outcome(message_state::expired, worst->reason +
                                               "; a slot frees only after its validity (" +
                                               format_iso(*ctx.expires) + ")");
  }
  return outcome(message_state::deferred, worst->reason, worst->next);
}

void sqlite_store::for_each_capped_send(
    time_point since, const std::function<void(std::int64_t, const std::string&, time_point)>& fn) {
  atomically("list capped sends", [&] {
    query q(*db_, std::string("SELECT l.contact_id, l.campaign, max(l.at) FROM send_ledger l "
                              "JOIN campaign_heads h ON h.name = l.campaign "
                              "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
                              "WHERE l.at >= ?1 AND c.category = 'marketing' AND ") +
                      counted_outcomes + not_direct + " GROUP BY l.message_id");
    q.bind(1, since);
    while (q.step()) fn(q.get_int(0), q.get_text(1), q.get_time(2));
  });
}

std::vector<std::int64_t> sqlite_store::opted_out_contacts() {
  std::vector<std::int64_t> out;
  atomically("list opted-out contacts", [&] {
    query q(*db_, "SELECT id FROM contacts WHERE opted_out_at IS NOT NULL ORDER BY id");
    while (q.step()) out.push_back(q.get_int(0));
  });
  return out;
}

std::size_t sqlite_store::defer_at_apply(const std::string& campaign,
                                         const std::vector<apply_deferral>& deferrals) {
  std::size_t changed = 0;
  atomically("defer capped messages at apply", [&] {
    std::int64_t now = sqlite::wall_clock_ms();
    for (const auto& d : deferrals) {
      query(*db_,
            "UPDATE messages SET state = 'deferred', due_at = ?4, reason = ?5, updated_at = ?6 "
            "WHERE campaign = ?1 AND step = ?2 AND contact_id = ?3 AND state = 'scheduled' "
            "AND attempts = 0")
          .bind(1, campaign)
          .bind(2, d.step)
          .bind(3, d.contact_id)
          .bind(4, d.due)
          .bind(5, d.reason)
          .bind(6, now)
          .run();
      changed += static_cast<std::size_t>(db_->changes());
    }
  });
  return changed;
}

}  // namespace pigeon::engine
