#include "engine/store/postgres/node_watch.hpp"

#include <spdlog/spdlog.h>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/pg_rate_budget.hpp"
#include "engine/store/postgres/postgres_store.hpp"

namespace pigeon::engine::postgres {

std::vector<recovered_node> recover_silent_nodes(postgres_store& s, const std::string& self,
                                                 time_point now,
                                                 std::chrono::milliseconds silent_for,
                                                 std::chrono::milliseconds reconcile_grace) {
  std::vector<recovered_node> found;
  s.transaction([&] {
    found.clear();
    {
      // Dead: silent, not stopped, and not recovered since its last beat. SKIP LOCKED: another
      // survivor recovering it right now has it.
      query q(s.connection(),
              "SELECT owner, at FROM engine_heartbeat WHERE owner <> $1::text "
              "AND stopped_at IS NULL AND at < $2::bigint "
              "AND (recovered_at IS NULL OR recovered_at < at) "
              "ORDER BY owner FOR UPDATE SKIP LOCKED");
      q.bind(1, self).bind(2, now - silent_for);
      while (q.step()) found.push_back({q.get_text(0), q.get_time(1)});
    }
    for (auto& node : found) {
      std::tie(node.released, node.unknown) = s.recover_owner(node.name, now, reconcile_grace);
      query(s.connection(),
            "UPDATE engine_heartbeat SET recovered_at = $2::bigint, recovered_by = $3::text "
            "WHERE owner = $1::text")
          .bind(1, node.name)
          .bind(2, now)
          .bind(3, self)
          .run();
    }
  });
  return found;
}

void join_nodes(dispatch::dispatcher_options& options, const std::string& url,
                std::chrono::milliseconds reconcile_grace) {
  options.shared_rate =
      std::make_shared<dispatch::budget_thread>(std::make_unique<postgres_rate_budget>(url));
  options.after_heartbeat = [self = options.owner, reconcile_grace](store& s, time_point now) {
    auto* pg = dynamic_cast<postgres_store*>(&s);
    if (!pg) return;
    for (const auto& node : recover_silent_nodes(*pg, self, now, node_silent_for, reconcile_grace))
      spdlog::warn(
          "recovered node {}: no heartbeat since {}; {} leased messages claimable again, {} with "
          "unknown outcome resent after {} s unless a delivery receipt comes (flagged as possible "
          "duplicates)",
          node.name, format_iso(node.last_heartbeat), node.released, node.unknown,
          reconcile_grace.count() / 1000);
  };
}

}  // namespace pigeon::engine::postgres
