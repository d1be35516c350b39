// sqlite_store: operations — clean-stop lease release, lane detail with the heartbeat, and the
// figures `pigeon status` shows beyond status().
#include <algorithm>
#include <chrono>
#include <tuple>

#include "engine/store/ops_figures.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::sqlite {

using namespace ops_figures;

namespace {

using namespace std::chrono_literals;

bool table_exists(sqlite::database& db, const std::string& name) {
  query q(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  q.bind(1, name);
  return q.step();
}

bool column_exists(sqlite::database& db, const std::string& table, const std::string& column) {
  query q(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
  q.bind(1, table).bind(2, column);
  return q.step();
}

}  // namespace

std::size_t sqlite_store::release_leases(const std::string& owner) {
  std::size_t n = 0;
  atomically("release leases", [&] {
    // Claims live in memory (claim_table.hpp): their rows never left their waiting state.
    n = claims_.drop_owner(owner);
    // A `leased` row can only be an older pigeon's (recover_after_crash releases those).
    query(*db_,
          "UPDATE messages SET state = 'scheduled', lease_owner = NULL, lease_until = NULL "
          "WHERE lease_owner = ?1 AND id IN (" +
              sqlite::ids_in_state_sql("leased") + ")")
        .bind(1, owner)
        .run();
    n += static_cast<std::size_t>(db_->changes());
  });
  return n;
}

void sqlite_store::heartbeat_detail(const std::string& owner, const std::string& detail) {
  atomically("store heartbeat detail", [&] {
    query(*db_, "UPDATE engine_heartbeat SET detail = ?2 WHERE owner = ?1")
        .bind(1, owner)
        .bind(2, detail)
        .run();
  });
}

ops_snapshot sqlite_store::operations(time_point now) {
  ops_snapshot s;
  atomically("read operations", [&] {
    // Throughput, overall and per provider, over the last minute and hour; a rehearsal's
    // attempts (simulated times, mark_sends_simulated) are not throughput.
    for (auto [window, all, pick] :
         {std::tuple{1min, &s.last_minute, &provider_figures::last_minute},
          std::tuple{60min, &s.last_hour, &provider_figures::last_hour}}) {
      query q(*db_,
              "SELECT provider, outcome, count(*) FROM send_ledger "
              "WHERE at >= ?1 AND simulated = 0 GROUP BY provider, outcome ORDER BY provider");
      q.bind(1, now - window);
      while (q.step()) {
        auto& provider = provider_named(s, q.get_text(0));
        count_outcome(*all, q.get_view(1), q.get_int(2));
        count_outcome(provider.*pick, q.get_view(1), q.get_int(2));
      }
    }
    // p99 of submit round trips per provider over the last hour, from its latest
    // latency_sample_cap completed attempts: a bounded read whatever the hour's volume (the
    // whole hour cost 1.7 s per million sends: a count and a sort).
    for (auto& p : s.providers) {
      std::vector<std::int64_t> latencies;
      query q(*db_,
              "SELECT completed_at - at FROM send_ledger WHERE provider = ?1 AND at >= ?2 "
              "AND completed_at IS NOT NULL AND simulated = 0 ORDER BY at DESC LIMIT ?3");
      q.bind(1, p.name).bind(2, now - 60min).bind(3, latency_sample_cap);
      while (q.step()) latencies.push_back(q.get_int(0));
      p.p99_latency_ms = ops_figures::p99(latencies);
    }
    // Campaign progress by step and variant (A/B standing).
    {
      // The inner GROUP BY reads messages_by_state (campaign, state, step, variant) alone, a
      // covering index: no pass over the table's rows.
      query q(*db_,
              "SELECT campaign, step, variant, sum(n), "
              "sum(CASE WHEN state IN ('submitted', 'delivered', 'undelivered') THEN n END), "
              "sum(CASE WHEN state = 'delivered' THEN n END), "
              "sum(CASE WHEN state IN ('failed', 'undelivered') THEN n END) FROM ("
              "  SELECT campaign, state, step, variant, count(*) AS n FROM messages "
              "  GROUP BY campaign, state, step, variant) "
              "GROUP BY campaign, step, variant ORDER BY campaign, step, variant");
      while (q.step()) {
        campaign_named(s, q.get_text(0))
            .variants.push_back({q.get_text(1), q.get_text(2), q.get_int(3), q.get_int(4),
                                 q.get_int(5), q.get_int(6), 0});
      }
    }
    // Tables and columns another part of pigeon adds (webhooks: replies, opt-outs): shown
    // when present.
    s.replies_table = table_exists(*db_, "replies") && column_exists(*db_, "replies", "campaign") &&
                      column_exists(*db_, "replies", "keyword");
    if (s.replies_table) {
      query q(*db_,
              "SELECT campaign, keyword, count(*) FROM replies WHERE campaign IS NOT NULL "
              "AND campaign <> '' GROUP BY campaign, keyword");
      while (q.step()) campaign_named(s, q.get_text(0)).replies[q.get_text(1)] = q.get_int(2);
      if (column_exists(*db_, "replies", "message_id")) {
        query v(*db_,
                "SELECT m.campaign, m.step, m.variant, count(*) FROM replies r "
                "JOIN messages m ON m.id = r.message_id GROUP BY 1, 2, 3");
        while (v.step()) {
          for (auto& var : campaign_named(s, v.get_text(0)).variants)
            if (var.step == v.get_text(1) && var.variant == v.get_text(2))
              var.replies = v.get_int(3);
        }
      }
    }
    s.opt_out_column = column_exists(*db_, "contacts", "opted_out_at");
    if (s.opt_out_column) {
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
              "SELECT m.reason, count(*) FROM campaign_heads h CROSS JOIN messages m "
              "ON m.campaign = h.name AND m.state = ?1 GROUP BY m.reason");
      q.bind(1, state);
      while (q.step()) (*out)[q.get_text(0).empty() ? "(none)" : q.get_text(0)] = q.get_int(1);
    }
    s.retry_backlog =
        db_->query_int("SELECT count(*) FROM (" + sqlite::ids_in_state_sql("retry") + ")");
    {
      query q(*db_,
              "SELECT detail FROM engine_heartbeat WHERE stopped_at IS NULL "
              "ORDER BY at DESC LIMIT 1");
      if (q.step()) s.lane_detail = q.get_text(0);
    }
  });
  return s;
}

}  // namespace pigeon::engine::sqlite
