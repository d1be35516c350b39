// postgres_store: A/B tests (`ab_test`): per-variant statistics, the test's registration, the
// checks the dispatcher runs before each claim, the decision and the messages held by `sample`.
// As engine/store/sqlite/ab.cpp, whose file comment describes held messages.
//
// Several nodes run the checks: a decision and a re-check lock the test's row first, so a second
// node deciding the same test waits for the first and then finds it decided (nothing changes).
#include "engine/store/columns.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine::postgres {

namespace {

// The steps of campaign $1 that have variants in its current version.
constexpr const char* ab_steps_sql =
    "SELECT t.step FROM campaign_templates t JOIN campaign_heads h "
    "ON h.name = t.campaign AND h.version = t.version WHERE t.campaign = $1 "
    "GROUP BY t.step HAVING count(*) > 1";

}  // namespace

std::vector<variant_stats> postgres_store::ab_stats(const std::string& campaign) {
  std::vector<variant_stats> out;
  // One row per recipient: their variant in the campaign's A/B steps (or holdout).
  const std::string assign =
      std::string("WITH ab_steps AS (") + ab_steps_sql +
      "), "
      "start AS (SELECT min(sent_at) AS at FROM messages WHERE campaign = $1), "
      // A recipient counts for the variant of their first A/B message (after an ab_test
      // decision their later messages may carry the winner).
      "firsts AS (SELECT DISTINCT ON (contact_id) contact_id, variant FROM messages "
      "  WHERE campaign = $1 AND (variant = 'holdout' OR step IN (SELECT step FROM ab_steps)) "
      "  ORDER BY contact_id, id), "
      "assign AS (SELECT m.contact_id, f.variant AS variant, "
      "  coalesce(min(m.sent_at), (SELECT at FROM start)) AS since, "
      "  max((m.state IN ('submitted', 'delivered', 'undelivered'))::int) AS sent, "
      "  max((m.state = 'delivered')::int) AS delivered FROM messages m "
      "  JOIN firsts f ON f.contact_id = m.contact_id "
      "  WHERE m.campaign = $1 AND (m.variant = 'holdout' OR m.step IN (SELECT step FROM "
      "ab_steps)) "
      "  GROUP BY m.contact_id, f.variant) ";
  // Only recipients who were sent their variant (or held out) can convert: a recipient held by
  // `sample`, or not sent yet, who replies or buys anyway is no evidence for a variant.
  const std::string exposed_only = "AND (a.sent = 1 OR a.variant = 'holdout') ";
  atomically("read A/B statistics", [&] {
    {
      // COLLATE "C": variants in byte order, as SQLite sorts them.
      query q(*db_, assign +
                        "SELECT variant, count(*), sum(sent), sum(delivered) FROM assign "
                        "GROUP BY variant ORDER BY variant COLLATE \"C\"");
      q.bind(1, campaign);
      while (q.step()) {
        auto& v = columns::variant_entry(out, q.get_text(0));
        v.recipients = q.get_int(1);
        v.sent = q.get_int(2);
        v.delivered = q.get_int(3);
      }
    }
    {
      query q(*db_, assign +
                        "SELECT a.variant, upper(trim(r.keyword)), count(DISTINCT r.contact_id) "
                        "FROM assign a JOIN replies r ON r.contact_id = a.contact_id "
                        "AND r.at >= a.since AND (r.campaign IS NULL OR r.campaign = '' "
                        "OR r.campaign = $1) WHERE r.keyword IS NOT NULL " +
                        exposed_only + "GROUP BY 1, 2");
      q.bind(1, campaign);
      while (q.step())
        columns::variant_entry(out, q.get_text(0)).replies[q.get_text(1)] = q.get_int(2);
    }
    {
      query q(*db_, assign +
                        "SELECT a.variant, e.name, count(DISTINCT e.contact_id) FROM assign a "
                        "JOIN events e ON e.contact_id = a.contact_id AND e.at >= a.since "
                        "WHERE true " +
                        exposed_only + "GROUP BY 1, 2");
      q.bind(1, campaign);
      while (q.step())
        columns::variant_entry(out, q.get_text(0)).events[q.get_text(1)] = q.get_int(2);
    }
  });
  return out;
}

namespace {

const char* ab_columns =
    "SELECT a.campaign, a.metric, a.decide_after_ms, a.first_send_at, a.decided_at, a.winner, "
    "a.runner_up, a.p_value, a.reason, a.switched, a.min_per_variant, a.sample_percent, "
    "a.next_check_at FROM ab_tests a ";

// Held messages of campaign $1 (see the file comment), their reason parameter $`reason`.
std::string held_sql(int reason) {
  return "campaign = $1 AND state = 'deferred' AND attempts = 0 AND reason = $" +
         std::to_string(reason);
}

// Releases campaign $1's held messages at $2 with reason $3 (updated_at $4, held reason $5,
// decide_after $6 ms). A held message's due time is its step's time + decide_after until a check
// passes it (then the check's time): it becomes due at its step's time or now, whichever is
// later, so a later step with variants keeps its day. Its validity (the end of its step's local
// day) moves by whole days to at least a day after that, so a release outside the send window
// still has the next opening. Returns how many.
std::int64_t release_held(postgres::connection& db, const ab_decision& d, time_point now,
                          const std::string& reason, std::int64_t updated_at) {
  const std::string due = "GREATEST($2::bigint, due_at - $6::bigint)";
  query q(db, "UPDATE messages SET due_at = " + due +
                  ", reason = $3, updated_at = $4, expires_at = CASE WHEN expires_at IS NULL OR "
                  "expires_at >= " +
                  due +
                  " + 86400000 THEN expires_at ELSE expires_at + "
                  "86400000 * ((" +
                  due +
                  " + 86400000 - expires_at + 86399999) / 86400000) END "
                  "WHERE " +
                  held_sql(5));
  q.bind(1, d.campaign).bind(2, now).bind(3, reason).bind(4, updated_at).bind(5, ab_held_reason);
  q.bind(6, static_cast<std::int64_t>(d.decide_after.count()));
  q.run();
  return q.changes();
}

}  // namespace

void postgres_store::register_ab_test(const ab_decision& test, std::optional<time_point> check_by) {
  atomically("register the A/B test", [&] {
    if (test.metric.empty()) {
      // No test to wait for any more: messages it held go with their split.
      std::optional<ab_decision> dropped;
      {
        query q(*db_, std::string(ab_columns) +
                          "WHERE a.campaign = $1 AND a.decided_at IS NULL FOR UPDATE");
        q.bind(1, test.campaign);
        if (q.step()) dropped = columns::read_ab_row(q);
      }
      if (!dropped) return;
      auto now = postgres::wall_clock_ms();
      release_held(*db_, *dropped, postgres::from_ms(now),
                   "ab sample: released (the campaign no longer has an ab_test: the split)", now);
      query(*db_, "DELETE FROM ab_tests WHERE campaign = $1 AND decided_at IS NULL")
          .bind(1, test.campaign)
          .run();
      return;
    }
    // LEAST ignores a NULL: no check_by keeps the next check, none yet takes check_by.
    query(*db_,
          "INSERT INTO ab_tests (campaign, metric, decide_after_ms, min_per_variant, "
          "sample_percent, next_check_at) VALUES ($1, $2, $3, $4, $5, $6) "
          "ON CONFLICT (campaign) DO UPDATE SET metric = excluded.metric, "
          "decide_after_ms = excluded.decide_after_ms, "
          "min_per_variant = excluded.min_per_variant, "
          "sample_percent = excluded.sample_percent, "
          "next_check_at = LEAST(ab_tests.next_check_at, excluded.next_check_at) "
          "WHERE ab_tests.decided_at IS NULL")
        .bind(1, test.campaign)
        .bind(2, test.metric)
        .bind(3, static_cast<std::int64_t>(test.decide_after.count()))
        .bind(4, test.min_per_variant)
        .bind(5, static_cast<std::int64_t>(test.sample_percent))
        .bind(6, check_by)
        .run();
  });
}

std::vector<ab_decision> postgres_store::ab_tests_due(time_point now) {
  std::vector<ab_decision> out;
  atomically("find A/B tests to decide", [&] {
    std::vector<ab_decision> open;
    {
      query q(*db_, std::string(ab_columns) +
                        "JOIN campaign_heads h ON h.name = a.campaign "
                        "WHERE a.decided_at IS NULL AND h.state = 'active'");
      while (q.step()) open.push_back(columns::read_ab_row(q));
    }
    for (auto& d : open) {
      if (!d.first_send) {
        // The first send of a step with variants (not of the campaign: its first steps may have
        // none). Few such messages are sent until the first goes: index probes per state/step.
        query q(*db_, std::string("SELECT min(sent_at) FROM messages WHERE campaign = $1 "
                                  "AND (state = 'submitted' OR state = 'delivered' "
                                  "OR state = 'undelivered') AND step IN (") +
                          ab_steps_sql + ")");
        q.bind(1, d.campaign);
        if (q.step()) d.first_send = q.get_opt_time(0);
        if (d.first_send) {
          // Not waiting on a row another node holds (its decision or check notes the first
          // send too): this runs before every claim.
          query(*db_,
                "UPDATE ab_tests SET first_send_at = $2 WHERE campaign = (SELECT campaign FROM "
                "ab_tests WHERE campaign = $1 AND first_send_at IS NULL FOR UPDATE SKIP LOCKED)")
              .bind(1, d.campaign)
              .bind(2, *d.first_send)
              .run();
        }
      }
      bool due = d.next_check ? *d.next_check <= now
                              : d.first_send && *d.first_send + d.decide_after <= now;
      if (due) out.push_back(std::move(d));
    }
  });
  return out;
}

std::int64_t postgres_store::record_ab_decision(const ab_decision& d) {
  std::int64_t switched = 0;
  atomically("record the A/B decision", [&] {
    std::int64_t now = postgres::wall_clock_ms();
    bool open = false;
    {
      // The row lock makes the decision once: a node deciding at the same time waits here and
      // then finds the test decided.
      query q(*db_, "SELECT 1 FROM ab_tests WHERE campaign = $1 AND decided_at IS NULL FOR UPDATE");
      q.bind(1, d.campaign);
      open = q.step();
    }
    if (!open) return;
    if (!d.winner.empty()) {
      query q(*db_,
              "UPDATE messages SET variant = $2, updated_at = $3 "
              "WHERE campaign = $1 AND state IN ('scheduled', 'deferred') "
              "AND attempts = 0 AND variant <> 'holdout' AND variant <> $2 "
              "AND step IN (SELECT t.step FROM campaign_templates t "
              "JOIN campaign_heads h ON h.name = t.campaign "
              "AND h.version = t.version WHERE t.campaign = $1 "
              "AND t.variant = $2)");
      q.bind(1, d.campaign).bind(2, d.winner).bind(3, now);
      q.run();
      switched = q.changes();
    }
    auto at = d.decided_at.value_or(time_point{});
    release_held(*db_, d, at,
                 d.winner.empty() ? "ab sample: released at the decision (no winner: the split)"
                                  : "ab sample: released at the decision (winner " + d.winner + ")",
                 now);
    query(*db_,
          "UPDATE ab_tests SET decided_at = $2, winner = $3, runner_up = $4, p_value = $5, "
          "reason = $6, switched = $7, first_send_at = coalesce(first_send_at, $8), "
          "next_check_at = NULL WHERE campaign = $1 AND decided_at IS NULL")
        .bind(1, d.campaign)
        .bind(2, at)
        .bind(3, d.winner)
        .bind(4, d.runner_up)
        .bind(5, columns::p_value_to_text(d.p_value))
        .bind(6, d.reason)
        .bind(7, switched)
        .bind(8, d.first_send)
        .run();
  });
  return switched;
}

std::int64_t postgres_store::recheck_ab_test(const ab_decision& d, time_point now) {
  std::int64_t released = 0;
  atomically("re-check the A/B test", [&] {
    std::int64_t wall = postgres::wall_clock_ms();
    auto next = d.next_check.value_or(now);
    query check(*db_,
                "UPDATE ab_tests SET reason = $2, next_check_at = $3, "
                "first_send_at = coalesce(first_send_at, $4) "
                "WHERE campaign = $1 AND decided_at IS NULL");
    check.bind(1, d.campaign).bind(2, d.reason).bind(3, next).bind(4, d.first_send).run();
    if (check.changes() == 0) return;
    // The sample is spent when no other message of a step with variants waits to go: its
    // evidence is all there is, so waiting longer gains nothing. Only once the decision time has
    // come (or nothing of the sample was ever sent).
    bool time_has_come = !d.first_send || *d.first_send + d.decide_after <= now;
    bool spent = false;
    if (time_has_come) {
      query q(*db_, std::string("SELECT 1 FROM messages WHERE campaign = $1 AND (state = "
                                "'scheduled' OR state = 'deferred' OR state = 'retry' OR state = "
                                "'leased' OR state = 'submitting') AND step IN (") +
                        ab_steps_sql +
                        ") AND NOT (state = 'deferred' AND attempts = 0 AND "
                        "coalesce(reason, '') = $2) LIMIT 1");
      q.bind(1, d.campaign).bind(2, ab_held_reason);
      spent = !q.step();
    }
    if (spent) {
      released = release_held(
          *db_, d, now,
          "ab sample: released undecided (the sample is spent below min_per_variant: the split)",
          wall);
      return;
    }
    // Those due before the next check wait for it; later ones (a later step) keep their time.
    query q(*db_, "UPDATE messages SET due_at = $2, updated_at = $3 WHERE due_at < $2 AND " +
                      held_sql(4));
    q.bind(1, d.campaign).bind(2, next).bind(3, wall).bind(4, ab_held_reason);
    q.run();
  });
  return released;
}

std::optional<ab_decision> postgres_store::find_ab_test(const std::string& campaign) {
  std::optional<ab_decision> out;
  atomically("read the A/B test", [&] {
    {
      query q(*db_, std::string(ab_columns) + "WHERE a.campaign = $1");
      q.bind(1, campaign);
      if (q.step()) out = columns::read_ab_row(q);
    }
    if (!out) return;
    query q(*db_, "SELECT count(*) FROM messages WHERE " + held_sql(2));
    q.bind(1, campaign).bind(2, ab_held_reason);
    if (q.step()) out->held = q.get_int(0);
  });
  return out;
}

}  // namespace pigeon::engine::postgres
