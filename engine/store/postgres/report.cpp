// postgres_store: what `status`, `messages` and `report` read (sqlite_store's queue.cpp status
// and messages, ops.cpp operations, report.cpp collect_report, contacts.cpp summarize_contacts).
// The same figures as SQLite's: the counting is shared (engine/store/ops_figures.hpp,
// report_tally.hpp); here PostgreSQL groups the rows first, so a report moves a few hundred
// grouped rows to the client instead of one row per message.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "engine/store/json_keys.hpp"
#include "engine/store/ops_figures.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"
#include "engine/store/report_tally.hpp"

namespace pigeon::engine::postgres {

using namespace ops_figures;
using namespace std::chrono_literals;

namespace {

// Names sort byte-wise, as SQLite's (a database's own collation may be a language's).
constexpr const char* bytes = " COLLATE \"C\"";

// "x - x mod unit" with the modulo taken positive: the start of the unit (hour, day) holding
// ms `x`, also before 1970 (PostgreSQL's / and % truncate toward zero).
std::string floor_sql(const std::string& x, std::int64_t unit) {
  auto u = std::to_string(unit);
  return "(" + x + " - ((" + x + " % " + u + ") + " + u + ") % " + u + ")";
}

}  // namespace

status_snapshot postgres_store::status(time_point now) {
  status_snapshot s;
  auto all_zero = [] {
    std::map<std::string, std::int64_t> m;
    for (auto st : all_states) m[std::string(to_string(st))] = 0;
    return m;
  };
  atomically("read status", [&] {
    s.by_state = all_zero();
    {
      query q(*db_,
              std::string("SELECT name, version, state FROM campaign_heads ORDER BY name") + bytes);
      while (q.step()) {
        s.campaigns.push_back(
            {q.get_text(0), static_cast<int>(q.get_int(1)), q.get_text(2), all_zero()});
      }
    }
    {
      // One pass over the (campaign, state) index gives both tallies: the totals by state are
      // the sums over campaigns. Claims are leases on the rows (state `leased`): every node's
      // count as they are.
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
      // Due and not claimed: waiting, or leased by a node whose lease ran out (as SQLite's
      // claims, held while now <= until).
      query q(*db_, std::string("SELECT min(m.due_at) FROM messages m JOIN campaign_heads h "
                                "ON h.name = m.campaign WHERE (") +
                        postgres::claimable_sql +
                        " OR (m.state = 'leased' AND m.lease_until < $1)) "
                        "AND m.due_at <= $1 AND h.state = 'active'");
      q.bind(1, now);
      if (q.step()) s.oldest_due = q.get_opt_time(0);
    }
    {
      // Every node sharing the database (one heartbeat row each). The engine fields describe
      // the running one that beat last, else the one that beat last: a node that stopped
      // cleanly after another's beat does not hide a running one.
      query q(*db_, std::string("SELECT owner, pid, at, stopped_at, detail FROM engine_heartbeat "
                                "ORDER BY owner") +
                        bytes);
      const engine_node* shown = nullptr;
      while (q.step())
        s.nodes.push_back(
            {q.get_text(0), q.get_int(1), q.get_time(2), q.get_opt_time(3), q.get_text(4)});
      for (const auto& n : s.nodes) {
        auto rank = [](const engine_node& x) { return std::pair(!x.stopped_at, x.heartbeat); };
        if (!shown || rank(n) > rank(*shown)) shown = &n;
      }
      if (shown) {
        s.engine_owner = shown->name;
        s.engine_heartbeat = shown->heartbeat;
        s.engine_stopped_at = shown->stopped_at;
      }
    }
    s.possible_duplicates =
        db_->query_int("SELECT count(*) FROM messages WHERE maybe_duplicate = 1");
    s.contacts = db_->query_int(std::string("SELECT count(*) FROM contacts k WHERE ") +
                                postgres::live_contact_sql);
  });
  return s;
}

std::vector<message_row> postgres_store::messages(const message_filter& filter) {
  std::vector<message_row> out;
  atomically("list messages", [&] {
    query q(*db_,
            std::string("SELECT ") + columns::message_row_columns +
                " FROM messages m JOIN contacts k ON k.id = m.contact_id "
                "JOIN campaign_heads h ON h.name = m.campaign "
                "WHERE ($1::text = '' OR m.campaign = $1) AND ($2::text IS NULL OR m.state = $2) "
                "AND ($4::integer = 0 OR h.state = 'active') AND ($5::text = '' OR k.phone = $5) "
                "ORDER BY m.id LIMIT $3::bigint");
    q.bind(1, filter.campaign);
    q.bind(5, filter.phone);
    q.bind(4, filter.active_campaigns_only ? 1 : 0);
    if (filter.state) {
      q.bind(2, to_string(*filter.state));
    } else {
      q.bind(2, std::nullopt);
    }
    // LIMIT NULL: every row.
    if (filter.limit == 0) {
      q.bind(3, std::nullopt);
    } else {
      q.bind(3, static_cast<std::int64_t>(filter.limit));
    }
    while (q.step()) out.push_back(columns::read_message_row(q));
  });
  return out;
}

ops_snapshot postgres_store::operations(time_point now) {
  ops_snapshot s;
  atomically("read operations", [&] {
    // Throughput, overall and per provider, over the last minute and hour; a rehearsal's
    // attempts (simulated times, mark_sends_simulated) are not throughput.
    for (auto [window, all, pick] :
         {std::tuple{1min, &s.last_minute, &provider_figures::last_minute},
          std::tuple{60min, &s.last_hour, &provider_figures::last_hour}}) {
      query q(*db_, std::string("SELECT provider, outcome, count(*) FROM send_ledger "
                                "WHERE at >= $1 AND simulated = 0 GROUP BY provider, outcome "
                                "ORDER BY provider") +
                        bytes);
      q.bind(1, now - window);
      while (q.step()) {
        auto& provider = provider_named(s, q.get_text(0));
        count_outcome(*all, q.get_view(1), q.get_int(2));
        count_outcome(provider.*pick, q.get_view(1), q.get_int(2));
      }
    }
    // p99 of submit round trips per provider over the last hour, from its latest
    // latency_sample_cap completed attempts: the server picks the element SQLite's
    // nth_element does (0-based (n * 99 - 1) / 100 of the sorted sample), one row back.
    for (auto& p : s.providers) {
      query q(*db_,
              "WITH sample AS (SELECT completed_at - at AS l FROM send_ledger WHERE provider = $1 "
              "AND at >= $2 AND completed_at IS NOT NULL AND simulated = 0 "
              "ORDER BY at DESC LIMIT $3) "
              "SELECT l FROM sample ORDER BY l "
              "OFFSET (SELECT (count(*) * 99 - 1) / 100 FROM sample) LIMIT 1");
      q.bind(1, p.name).bind(2, now - 60min).bind(3, latency_sample_cap);
      if (q.step()) p.p99_latency_ms = static_cast<double>(q.get_int(0));
    }
    // Campaign progress by step and variant (A/B standing), from messages_by_state.
    {
      query q(
          *db_,
          std::string("SELECT campaign, step, variant, count(*), "
                      "count(*) FILTER (WHERE state IN ('submitted', 'delivered', 'undelivered')), "
                      "count(*) FILTER (WHERE state = 'delivered'), "
                      "count(*) FILTER (WHERE state IN ('failed', 'undelivered')) FROM messages "
                      "GROUP BY campaign, step, variant ORDER BY campaign") +
              bytes + ", step" + bytes + ", variant" + bytes);
      while (q.step()) {
        campaign_named(s, q.get_text(0))
            .variants.push_back({q.get_text(1), q.get_text(2), q.get_int(3), q.get_int(4),
                                 q.get_int(5), q.get_int(6), 0});
      }
    }
    // The schema has the replies table and the opt-out column from its first version.
    s.replies_table = true;
    {
      query q(*db_,
              "SELECT campaign, keyword, count(*) FROM replies WHERE campaign <> '' "
              "GROUP BY campaign, keyword");
      while (q.step()) campaign_named(s, q.get_text(0)).replies[q.get_text(1)] = q.get_int(2);
      query v(*db_,
              "SELECT m.campaign, m.step, m.variant, count(*) FROM replies r "
              "JOIN messages m ON m.id = r.message_id GROUP BY 1, 2, 3");
      while (v.step()) {
        for (auto& var : campaign_named(s, v.get_text(0)).variants)
          if (var.step == v.get_text(1) && var.variant == v.get_text(2)) var.replies = v.get_int(3);
      }
    }
    s.opt_out_column = true;
    {
      for (auto& c : s.campaigns) c.opt_outs = 0;
      query q(*db_,
              "SELECT m.campaign, count(DISTINCT k.id) FROM messages m "
              "JOIN contacts k ON k.id = m.contact_id WHERE k.opted_out_at IS NOT NULL "
              "AND m.sent_at IS NOT NULL AND k.opted_out_at >= m.sent_at GROUP BY m.campaign");
      while (q.step()) campaign_named(s, q.get_text(0)).opt_outs = q.get_int(1);
    }
    for (auto [state, out] : {std::pair{"deferred", &s.deferred_by_reason},
                              std::pair{"suppressed", &s.suppressed_by_reason}}) {
      query q(*db_,
              "SELECT m.reason, count(*) FROM campaign_heads h JOIN messages m "
              "ON m.campaign = h.name AND m.state = $1 GROUP BY m.reason");
      q.bind(1, state);
      while (q.step()) (*out)[q.get_text(0).empty() ? "(none)" : q.get_text(0)] = q.get_int(1);
    }
    s.retry_backlog = db_->query_int("SELECT count(*) FROM messages WHERE state = 'retry'");
    {
      query q(*db_,
              "SELECT detail FROM engine_heartbeat WHERE stopped_at IS NULL "
              "ORDER BY at DESC LIMIT 1");
      if (q.step()) s.lane_detail = q.get_text(0);
    }
  });
  return s;
}

report_facts postgres_store::collect_report(const report_query& rq) {
  report_tally t(rq);
  const std::int64_t window = rq.window.count();
  constexpr auto hour = report_tally::hour_ms, day = report_tally::day_ms;
  atomically("report", [&] {
    // A report reads a few hundred thousand rows once: compiling its expressions (JIT, on past
    // the planner's cost threshold) took longer than running them, and the grouping sets below
    // sort on disk unless their hash tables fit in work_mem (a few MB per million messages).
    db_->exec("SET LOCAL jit = off");
    db_->exec("SET LOCAL work_mem = '64MB'");
    // 1. The funnel, per step × variant, and the timeline of sends and deliveries: one pass
    // over the campaign's messages (messages_by_state), grouped six ways at once. GROUPING()
    // tells the sets apart (a bit per column left out, the first column the highest bit).
    enum : std::int64_t {
      by_state = 0b011111,           // step, variant, state, suppressed reason, final day
      by_sent_day = 0b101111,        // step, variant, day sent (NULL: not sent)
      by_sent_hour = 0b110111,       // hour sent
      by_delivered_hour = 0b111011,  // hour of the delivery receipt
      by_provider = 0b111101,        // the segments sent through each provider
      by_latency = 0b111110,         // delivered messages' submit -> receipt, in ms
    };
    query q(*db_,
            "SELECT GROUPING(state, sday, shour, dhour, sprovider, latency), step, variant, "
            "state, sreason, fday, sday, shour, dhour, sprovider, latency, count(*), "
            "sum(segments) FROM (SELECT step, variant, state, segments, "
            "CASE WHEN state = 'suppressed' THEN reason ELSE '' END AS sreason, "
            "CASE WHEN state IN ('delivered', 'undelivered', 'failed', 'expired', 'suppressed') "
            "THEN " +
                floor_sql("final_at", day) + " END AS fday, " + floor_sql("sent_at", day) +
                " AS sday, " + floor_sql("sent_at", hour) +
                " AS shour, "
                "CASE WHEN state = 'delivered' AND sent_at IS NOT NULL THEN " +
                floor_sql("final_at", hour) +
                " END AS dhour, "
                "CASE WHEN sent_at IS NOT NULL THEN provider END AS sprovider, "
                "CASE WHEN state = 'delivered' AND sent_at IS NOT NULL AND final_at IS NOT NULL "
                "THEN greatest(final_at - sent_at, 0) END AS latency "
                "FROM messages WHERE campaign = $1 AND direct_text IS NULL) m "
                "GROUP BY GROUPING SETS ((step, variant, state, sreason, fday), "
                "(step, variant, sday), (shour), (dhour), (sprovider), (latency))");
    q.bind(1, rq.campaign);
    int row = -1;
    while (q.step()) {
      const std::int64_t n = q.get_int(11);
      switch (q.get_int(0)) {
        case by_state:
          row = t.row(row, q.get_view(1), q.get_view(2));
          t.add_messages(row, q.get_view(3), q.get_view(4),
                         q.is_null(5) ? std::nullopt : std::optional(q.get_int(5)), n);
          break;
        case by_sent_day:
          if (q.is_null(6)) break;
          row = t.row(row, q.get_view(1), q.get_view(2));
          t.add_sent(row, q.get_int(6), q.get_int(12), n);
          break;
        case by_sent_hour:
          if (!q.is_null(7)) t.hour(q.get_int(7)).sent += n;
          break;
        case by_delivered_hour:
          if (!q.is_null(8)) t.hour(q.get_int(8)).delivered += n;
          break;
        case by_provider:
          if (!q.is_null(9)) t.provider_segments(q.get_text(9)) += q.get_int(12);
          break;
        case by_latency:
          if (!q.is_null(10)) t.add_latency(q.get_int(10), n);
          break;
        default:
          throw store_error("report: unexpected grouping " + q.get_text(0));
      }
    }

    // 2. Replies attributed to the campaign's messages, in order (recipients count once).
    query r(*db_,
            "SELECT m.step, m.variant, m.id, r.contact_id, r.keyword, r.at FROM replies r "
            "JOIN messages m ON m.id = r.message_id WHERE r.campaign = $1 "
            "AND m.direct_text IS NULL ORDER BY r.at, r.id");
    r.bind(1, rq.campaign);
    while (r.step())
      t.add_reply(r.get_view(0), r.get_view(1), r.get_int(2), r.get_int(3), r.get_text(4),
                  r.get_int(5));

    // 3. Opt-outs within the window after a send (contacts opted out now: a START since
    // clears it). Few contacts are opted out: start from them (contacts_opted_out).
    query o(*db_,
            "SELECT m.step, m.variant, k.opted_out_at FROM contacts k JOIN messages m "
            "ON m.contact_id = k.id WHERE k.opted_out_at IS NOT NULL AND m.campaign = $1 "
            "AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
            "AND k.opted_out_at >= m.sent_at AND k.opted_out_at <= m.sent_at + $2");
    o.bind(1, rq.campaign).bind(2, window);
    while (o.step()) t.add_opt_out(o.get_view(0), o.get_view(1), o.get_int(2));

    // 4. Goal events within the window after a send, the first of each per message.
    if (!rq.goal_events.empty()) {
      std::string names;
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        names += (i ? ", $" : "$") + std::to_string(i + 3);
      query e(*db_,
              "SELECT m.step, m.variant, m.id, e.name, min(e.at) FROM events e JOIN messages m "
              "ON m.contact_id = e.contact_id WHERE e.name IN (" +
                  names +
                  ") AND m.campaign = $1 AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
                  "AND e.at >= m.sent_at AND e.at <= m.sent_at + $2 "
                  "GROUP BY m.id, m.step, m.variant, e.name");
      e.bind(1, rq.campaign).bind(2, window);
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        e.bind(static_cast<int>(i + 3), rq.goal_events[i]);
      while (e.step())
        t.add_goal_event(e.get_view(0), e.get_view(1), e.get_int(2), e.get_text(3), e.get_int(4));
    }

    // 5. Carrier error codes of the failed and undelivered messages: the latest receipt's code,
    // else the one in the submit's rejection; a code's example text is its first message's.
    query f(*db_,
            "SELECT m.provider, m.reason, (SELECT r.error_code || chr(31) || r.error_text "
            "FROM receipts r WHERE r.message_id = m.id AND r.error_code <> '' "
            "ORDER BY r.id DESC LIMIT 1) FROM messages m WHERE m.campaign = $1 "
            "AND m.state IN ('failed', 'undelivered') AND m.direct_text IS NULL ORDER BY m.id");
    f.bind(1, rq.campaign);
    while (f.step()) t.add_failure(f.get_text(0), f.get_text(1), f.get_opt_text(2));
  });
  return t.finish();
}

postgres_store::contacts_summary postgres_store::summarize_contacts() {
  contacts_summary out;
  atomically("summarize contacts", [&] {
    out.count = db_->query_int(std::string("SELECT count(*) FROM contacts k WHERE ") +
                               postgres::live_contact_sql);
    const std::string live_with_attributes =
        std::string(" FROM contacts k WHERE k.attributes <> '{}' AND ") +
        postgres::live_contact_sql;
    json_keys::name_set names;
    try {
      // The server reads the names: only the distinct ones travel. A text that does not parse
      // as JSON fails the statement (inside a savepoint: the transaction goes on below).
      atomically("read attribute names", [&] {
        query q(*db_, "SELECT DISTINCT name FROM (SELECT k.attributes::jsonb AS a" +
                          live_with_attributes +
                          ") c CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(c.a) = "
                          "'object' THEN c.a ELSE '{}'::jsonb END) AS name");
        while (q.step()) names.add(q.get_view(0));
      });
    } catch (const store_error& e) {
      // Read the texts here instead, a batch at a time; one that is no JSON object names
      // nothing (as SQLite's summary).
      spdlog::warn("summarize contacts: reading attribute names row by row ({})", e.what());
      names = {};
      std::int64_t after = 0;
      for (bool more = true; more;) {
        query q(*db_, "SELECT k.id, k.attributes" + live_with_attributes +
                          " AND k.id > $1 ORDER BY k.id LIMIT 10000");
        q.bind(1, after);
        more = false;
        while (q.step()) {
          more = true;
          after = q.get_int(0);
          names.add_keys_of(q.get_view(1));
        }
      }
    }
    out.attributes = names.sorted();
  });
  return out;
}

}  // namespace pigeon::engine::postgres
